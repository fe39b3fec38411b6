"""The dispatch tables, one module a concern; everything is importable from dispatch.models as before.

Loads are in kilograms, litres and items; coordinates are WGS84 degrees; money is in the company's
currency with two decimals. The modules depend one way: fleet <- orders <- operations, partners.
"""

from dispatch.models.fleet import Depot, Driver, NoFlyZone, Vehicle, Zone
from dispatch.models.operations import Alert, AuditEntry, DriverPosition, IdempotencyRecord, UserPreference
from dispatch.models.orders import Customer, Order, OrderStatusChange, ProofOfDelivery, proof_upload_path
from dispatch.models.partners import CourierPartner, Handoff

__all__ = [
    "Alert",
    "AuditEntry",
    "CourierPartner",
    "Customer",
    "Depot",
    "Driver",
    "DriverPosition",
    "Handoff",
    "IdempotencyRecord",
    "NoFlyZone",
    "Order",
    "OrderStatusChange",
    "ProofOfDelivery",
    "UserPreference",
    "Vehicle",
    "Zone",
    "proof_upload_path",
]
