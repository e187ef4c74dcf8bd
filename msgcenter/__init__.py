"""msgcenter: a customer-service message center."""
