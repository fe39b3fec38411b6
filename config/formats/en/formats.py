# English as the company writes it (day before month, as in Liechtenstein), not Django's American
# default ("Dec. 5, 2026", "December 5").
DATE_FORMAT = "j F Y"
MONTH_DAY_FORMAT = "j F"
