"""Courier partners: local courier firms we hand orders to, their logins, their API and webhooks.

Above the driver app (it answers with the same bodies and proof handling) and below customers, who
hear of a partner's delivery through the same order status events as of our own drivers'.
"""
