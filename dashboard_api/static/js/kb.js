// The knowledge base: articles (GET /kb/articles, one by id; admins write them) and the
// search the AI assistant makes for a question (GET /kb/search).

let api = null;

export function connect(client) {
  api = client;
}

/** A page of articles: {items, next_cursor}; query: q, language, tag, limit, cursor. */
export const list = (query = {}) => api.get("/kb/articles", query);
export const get = (id) => api.get(`/kb/articles/${id}`);
export const create = (body) => api.post("/kb/articles", body);
export const update = (id, changes) => api.patch(`/kb/articles/${id}`, changes);
export const remove = (id) => api.request("DELETE", `/kb/articles/${id}`);
/** {passages: [{article_id, title, heading, text, language, score}]}, best first. */
export const search = (q, language, limit = 4) => api.get("/kb/search", { q, language, limit });
