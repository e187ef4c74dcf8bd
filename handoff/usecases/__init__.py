"""Use cases: what happens when a customer writes, an agent acts, the bot answers, a reply
is delivered."""
