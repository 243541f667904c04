"""Evidence: what the victim forwards becomes sealed, logged, exportable and erasable.

- ``intake``: a forwarded message or file becomes encrypted evidence with a log leaf, a
  custody event and a receipt (``receipts``), in one transaction;
- ``bundle``, ``bundle_writer``, ``bundle_readme``: the export bundle format, writing it,
  and its README; ``export`` and ``export_desk``: building one (operator, victim), the
  victim's copy handed over by ``handover_desk`` like the report;
  ``timeline``: the incident in order, part of every bundle;
- ``verify`` (with ``verify_sealed``, ``verify_timeline``) and ``safezip``: ``haven verify``,
  offline, on a zip nobody vouches for;
- ``tsa`` and ``stamping``: RFC 3161 timestamps of signed heads, asked for and retried;
- ``case_documents``, ``extraction_record``, ``case_report``, ``report_desk``: the
  extraction record in every bundle and the case report (``/report``, ``haven report``);
- ``vetting``: rows checked against the log before ``/evidence`` or ``/search`` shows them;
- ``erasure``, ``erase_desk``, ``retention``: legal holds and crypto-shredding;
- ``keyfiles``, ``rotation``: where the keys come from, and rotating the master key;
- ``store``: what these operations work on; ``filenames``: untrusted names made safe.
"""

# The modules other packages may import; the rest serve this package alone
# (tests/test_layers.py checks it).
__all__ = [
    "bundle",
    "case_report",
    "erase_desk",
    "erasure",
    "export",
    "export_desk",
    "handover_desk",
    "intake",
    "keyfiles",
    "receipts",
    "report_desk",
    "retention",
    "rotation",
    "stamping",
    "store",
    "timeline",
    "verify",
    "vetting",
]
