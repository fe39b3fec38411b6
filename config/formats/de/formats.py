# German needs the period after the day ("5. Dezember"). Django's own German formats say the same;
# set here so that the templates' named formats stay right whatever Django's defaults become.
DATE_FORMAT = "j. F Y"
MONTH_DAY_FORMAT = "j. F"
