"""Domain rules: the mode table, who may see what, domain errors, events."""
