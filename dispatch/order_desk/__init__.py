"""The dispatcher's desk for orders: Today, the import page, the order's own page and the inbox, and
the orders API. They compose orders, plans, drivers and customer messages, so they sit at the top with
the other pages; the order rules themselves are in dispatch.orders."""
