"""The project's date formats per language (settings.FORMAT_MODULE_PATH), read before Django's own.

Templates name a format (`|date:"DATE_FORMAT"`, `"MONTH_DAY_FORMAT"`) instead of spelling one out, so
German reads "5. Dezember 2026" and English "5 December 2026"; what is not set here is Django's.
"""
