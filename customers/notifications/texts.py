"""The default wording of every notification, in English and German (the demo region's language).

The migration copies these into NotificationTemplate rows, which managers then edit in the admin;
rendering falls back to these when a row is missing. A webhook without its own template carries the
SMS text. Placeholders are listed on NotificationTemplate.
"""

# (event, channel, language) -> (subject, body)
DEFAULT_TEMPLATES: dict[tuple[str, str, str], tuple[str, str]] = {
    # --- scheduled
    ("scheduled", "email", "en"): (
        "Your delivery {{ reference }} arrives on {{ date }} between {{ window_start }} and {{ window_end }}",
        "Hello {{ name }},\n\nyour delivery {{ reference }} is planned for {{ date }} between {{ window_start }} "
        "and {{ window_end }}. We will tell you if this changes.\n\nFollow it live: {{ tracking_url }}\n",
    ),
    ("scheduled", "email", "de"): (
        "Ihre Lieferung {{ reference }} kommt am {{ date }} zwischen {{ window_start }} und {{ window_end }}",
        "Guten Tag {{ name }},\n\nIhre Lieferung {{ reference }} ist für den {{ date }} zwischen "
        "{{ window_start }} und {{ window_end }} Uhr geplant. Ändert sich das, sagen wir es Ihnen.\n\n"
        "Live verfolgen: {{ tracking_url }}\n",
    ),
    ("scheduled", "sms", "en"): (
        "",
        "Your delivery {{ reference }} arrives {{ date }} between {{ window_start }} and {{ window_end }}. "
        "Track: {{ tracking_url }}",
    ),
    ("scheduled", "sms", "de"): (
        "",
        "Ihre Lieferung {{ reference }} kommt am {{ date }} zwischen {{ window_start }} und {{ window_end }} Uhr. "
        "Verfolgen: {{ tracking_url }}",
    ),
    # --- out for delivery
    ("out_for_delivery", "email", "en"): (
        "Your delivery {{ reference }} is on its way",
        "Hello {{ name }},\n\n{{ driver_first_name }} is out with your delivery {{ reference }} and expects to "
        "arrive between {{ window_start }} and {{ window_end }}.\n\nFollow it live: {{ tracking_url }}\n",
    ),
    ("out_for_delivery", "email", "de"): (
        "Ihre Lieferung {{ reference }} ist unterwegs",
        "Guten Tag {{ name }},\n\n{{ driver_first_name }} ist mit Ihrer Lieferung {{ reference }} unterwegs und "
        "kommt voraussichtlich zwischen {{ window_start }} und {{ window_end }} Uhr.\n\n"
        "Live verfolgen: {{ tracking_url }}\n",
    ),
    ("out_for_delivery", "sms", "en"): (
        "",
        "{{ driver_first_name }} is on the way with {{ reference }}, expected {{ window_start }}-{{ window_end }}. "
        "{{ tracking_url }}",
    ),
    ("out_for_delivery", "sms", "de"): (
        "",
        "{{ driver_first_name }} ist mit {{ reference }} unterwegs, erwartet {{ window_start }}-{{ window_end }} Uhr. "
        "{{ tracking_url }}",
    ),
    # --- arriving soon
    ("arriving_soon", "email", "en"): (
        "{{ driver_first_name }} arrives soon with {{ reference }}",
        "Hello {{ name }},\n\nyou are the next stop: {{ driver_first_name }} arrives in a few minutes.\n\n"
        "Where is the driver now: {{ tracking_url }}\n",
    ),
    ("arriving_soon", "email", "de"): (
        "{{ driver_first_name }} ist gleich bei Ihnen ({{ reference }})",
        "Guten Tag {{ name }},\n\nSie sind der nächste Halt: {{ driver_first_name }} ist in wenigen Minuten da.\n\n"
        "Wo ist der Fahrer gerade: {{ tracking_url }}\n",
    ),
    ("arriving_soon", "sms", "en"): (
        "",
        "You are next: {{ driver_first_name }} arrives in a few minutes with {{ reference }}. {{ tracking_url }}",
    ),
    ("arriving_soon", "sms", "de"): (
        "",
        "Sie sind als Nächstes dran: {{ driver_first_name }} ist in wenigen Minuten da ({{ reference }}). "
        "{{ tracking_url }}",
    ),
    # --- delayed (the promise moved)
    ("delayed", "email", "en"): (
        "New time for your delivery {{ reference }}: {{ window_start }}–{{ window_end }}",
        "Hello {{ name }},\n\nwe are sorry: your delivery {{ reference }} will not make the time we gave you. "
        "It is now expected between {{ window_start }} and {{ window_end }}.\n\n"
        "Follow it live: {{ tracking_url }}\n",
    ),
    ("delayed", "email", "de"): (
        "Neue Zeit für Ihre Lieferung {{ reference }}: {{ window_start }}–{{ window_end }} Uhr",
        "Guten Tag {{ name }},\n\nes tut uns leid: Ihre Lieferung {{ reference }} schafft die angekündigte Zeit "
        "nicht. Sie kommt jetzt voraussichtlich zwischen {{ window_start }} und {{ window_end }} Uhr.\n\n"
        "Live verfolgen: {{ tracking_url }}\n",
    ),
    ("delayed", "sms", "en"): (
        "",
        "Sorry, {{ reference }} is late: now expected {{ window_start }}-{{ window_end }}. {{ tracking_url }}",
    ),
    ("delayed", "sms", "de"): (
        "",
        "Entschuldigung, {{ reference }} verspätet sich: jetzt {{ window_start }}-{{ window_end }} Uhr. "
        "{{ tracking_url }}",
    ),
    # --- rescheduled (a new plan version took the stop off every route: a closed road, no time left)
    ("rescheduled", "email", "en"): (
        "Your delivery {{ reference }} needs a new time",
        "Hello {{ name }},\n\nwe are sorry: we cannot bring your delivery {{ reference }} at the time we gave you"
        "{% if reason %} ({{ reason }}){% endif %}. Please disregard that time: we will reschedule it and tell you the "
        "new one. You can also pick a time yourself: {{ tracking_url }}\n",
    ),
    ("rescheduled", "email", "de"): (
        "Ihre Lieferung {{ reference }} braucht einen neuen Termin",
        "Guten Tag {{ name }},\n\nes tut uns leid: Wir können Ihre Lieferung {{ reference }} nicht zur angekündigten "
        "Zeit bringen{% if reason %} ({{ reason }}){% endif %}. Die Zeit gilt nicht mehr: Wir planen die Lieferung neu "
        "und sagen Ihnen den neuen Termin. Sie können auch selbst einen wählen: {{ tracking_url }}\n",
    ),
    ("rescheduled", "sms", "en"): (
        "",
        "Sorry, {{ reference }} cannot come at the time we gave you{% if reason %} ({{ reason }}){% endif %}. "
        "We will reschedule and tell you. {{ tracking_url }}",
    ),
    ("rescheduled", "sms", "de"): (
        "",
        "Entschuldigung, {{ reference }} kommt nicht zur angekündigten Zeit{% if reason %} ({{ reason }}){% endif %}. "
        "Wir planen neu und melden uns. {{ tracking_url }}",
    ),
    # --- delivered
    ("delivered", "email", "en"): (
        "Delivered: {{ reference }}",
        "Hello {{ name }},\n\nyour delivery {{ reference }} was delivered at {{ delivered_at }}"
        "{% if recipient_name %} and received by {{ recipient_name }}{% endif %}.\n\n"
        "Proof of delivery and a quick rating: {{ tracking_url }}\n",
    ),
    ("delivered", "email", "de"): (
        "Zugestellt: {{ reference }}",
        "Guten Tag {{ name }},\n\nIhre Lieferung {{ reference }} wurde um {{ delivered_at }} Uhr zugestellt"
        "{% if recipient_name %} und von {{ recipient_name }} entgegengenommen{% endif %}.\n\n"
        "Zustellnachweis und Bewertung: {{ tracking_url }}\n",
    ),
    ("delivered", "sms", "en"): (
        "",
        "{{ reference }} delivered at {{ delivered_at }}{% if recipient_name %} to {{ recipient_name }}{% endif %}. "
        "Proof and rating: {{ tracking_url }}",
    ),
    ("delivered", "sms", "de"): (
        "",
        "{{ reference }} um {{ delivered_at }} Uhr zugestellt{% if recipient_name %} an {{ recipient_name }}"
        "{% endif %}. Nachweis und Bewertung: {{ tracking_url }}",
    ),
    # --- failed
    ("failed", "email", "en"): (
        "We could not deliver {{ reference }}",
        "Hello {{ name }},\n\nwe could not deliver {{ reference }} today: {{ reason }}.\n\n"
        "Tell us when suits you and we will bring it again: {{ tracking_url }}\n",
    ),
    ("failed", "email", "de"): (
        "Wir konnten {{ reference }} nicht zustellen",
        "Guten Tag {{ name }},\n\nwir konnten {{ reference }} heute nicht zustellen: {{ reason }}.\n\n"
        "Sagen Sie uns, wann es Ihnen passt, und wir kommen wieder: {{ tracking_url }}\n",
    ),
    ("failed", "sms", "en"): (
        "",
        "We could not deliver {{ reference }}: {{ reason }}. Pick a new time: {{ tracking_url }}",
    ),
    ("failed", "sms", "de"): (
        "",
        "{{ reference }} konnte nicht zugestellt werden: {{ reason }}. Neuen Termin wählen: {{ tracking_url }}",
    ),
    # --- a dispatcher's reply to the customer's message
    ("reply", "email", "en"): (
        "About your delivery {{ reference }}",
        "Hello {{ name }},\n\n{{ text }}\n\nReply or follow your delivery: {{ tracking_url }}\n",
    ),
    ("reply", "email", "de"): (
        "Zu Ihrer Lieferung {{ reference }}",
        "Guten Tag {{ name }},\n\n{{ text }}\n\nAntworten oder Lieferung verfolgen: {{ tracking_url }}\n",
    ),
    ("reply", "sms", "en"): ("", "{{ reference }}: {{ text }} Reply: {{ tracking_url }}"),
    ("reply", "sms", "de"): ("", "{{ reference }}: {{ text }} Antworten: {{ tracking_url }}"),
}

# Why a stop was taken off the routes (UnassignedOrder.code), in the customer's words; others say nothing.
RESCHEDULE_REASONS = {
    "en": {"closed_road": "a road on the way is closed", "road": "a road on the way is closed"},
    "de": {"closed_road": "eine Straße auf dem Weg ist gesperrt", "road": "eine Straße auf dem Weg ist gesperrt"},
}

# Why a delivery failed, in the customer's words (the driver app's reason codes, API.md: Drivers).
FAILURE_REASONS = {
    "en": {
        "not_home": "nobody was at home",
        "no_access": "we could not get to the door",
        "refused": "the delivery was refused",
        "damaged": "the parcel was damaged",
        "wrong_address": "the address could not be found",
        "other": "an unexpected problem",
    },
    "de": {
        "not_home": "es war niemand zu Hause",
        "no_access": "wir kamen nicht bis zur Tür",
        "refused": "die Annahme wurde verweigert",
        "damaged": "das Paket war beschädigt",
        "wrong_address": "die Adresse war nicht auffindbar",
        "other": "ein unerwartetes Problem",
    },
}
