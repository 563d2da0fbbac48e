"""Personal information content: iCalendar (RFC 5545) and vCard (RFC 6350, RFC 2426) taken
apart, checked, indexed, queried and put back together. Pure functions, no I/O, no store.

Services (services/dav/) call these to validate what a client stores and to index it; web/dav/
parses the XML of a query into the filter values of ``filters`` and asks ``query`` to evaluate
them; webmail's calendar and contacts, ActiveSync and the CLI's import/export use the same
functions, so one item means the same thing in every protocol.

Modules: ``model`` (the values passed around), ``ical`` (parse, validate, index a calendar
object resource), ``recurrence`` (RRULE/RDATE/EXDATE/RECURRENCE-ID expansion in a range),
``vcard`` (parse, validate, index, 3.0 <-> 4.0), ``filters`` (CalDAV/CardDAV filter values),
``query`` (evaluate them), ``freebusy`` (VFREEBUSY from a set of objects), ``itip`` (iTIP
REQUEST/REPLY/CANCEL, RFC 5546), ``bundle`` (split a whole .ics/.vcf into items and join them),
``times`` (the shared parse, epoch and RFC 4791 §9.9 span rules, incl. the floating-time rule)
and ``scan`` (the fast path of the common calendar-query). docs/dav/content.md has the rules.
"""
