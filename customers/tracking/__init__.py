"""The customer's tracking page behind an unguessable link: links and their tokens, who may open them,
the page, its live socket and its texts."""
