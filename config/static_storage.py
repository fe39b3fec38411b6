"""Static files in production: WhiteNoise's compressed, hashed copies, ES module imports included.

Our scripts are ES modules that import each other by relative path (static/js/lib/). Django rewrites
those `import … from "./lib/x.js"` lines to the hashed names only when asked
(`support_js_module_import_aggregation`); without it a hashed page script, cached for a year, would
import whatever unhashed copy the browser holds of the module it names.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
