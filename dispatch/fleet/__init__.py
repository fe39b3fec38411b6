"""The fleet: depots, vehicles and drivers as the dispatcher and the manager keep them (visibility by
depot, creation, availability), and their API. Part of the base of dispatch, beside orders."""
