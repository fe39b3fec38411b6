"""Delivery slots: the windows a depot offers customers, which of them the fleet can still serve and
at what marginal cost (selectors), and booking or moving an order into one without two customers
taking the last place (services). Above routes.plans in the planning layer: slots compose plans and
orders; customers.tracking and the pages call them."""
