"""Live operations: positions from the phones (the lean intake and its fan-out), the dashboards' socket
and its broadcast, live ETAs, alerts (late, idle, failed), the live map and alerts pages. Above planning
(it reads the dispatched plans), below customers and the driver app. A sub-package of dispatch, not an
app: its tables (DriverPosition, Alert) are dispatch's and stay in its migrations."""
