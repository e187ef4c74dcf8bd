"""The read side: queries over chats and messages, and the shapes the API returns."""
