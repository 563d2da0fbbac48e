"""Pure mappings between ActiveSync's item elements and the stored PIM objects.

A phone's calendar, contacts and tasks are DAV items (services/dav/): one stored iCalendar
object or vCard that CalDAV, CardDAV, webmail and ActiveSync all read. These modules translate
without touching any service, so that they are tested as functions:

- ``dates``   MS-ASDTYPE date forms and the MS-ASCAL §2.2.2.42 Timezone blob (zoneinfo);
- ``recur``   MS-ASCAL §2.2.2.38 Recurrence ↔ RRULE (RFC 5545 §3.3.10);
- ``events``  MS-ASCAL Calendar ApplicationData ↔ VEVENT, Exceptions ↔ EXDATE/RECURRENCE-ID;
- ``todos``   MS-ASTASK Tasks ApplicationData ↔ VTODO;
- ``cards``   MS-ASCNTC Contacts/Contacts2 ApplicationData ↔ vCard 3.0/4.0;
- ``items``   the ItemClass functions (web/eas/classes.py) shared by the three classes.

Writing merges: a phone's Add or Change is applied to the stored object property by property,
so that what ActiveSync cannot express (X- properties, a second VALARM, vCard groups) survives
a phone's edit.
"""
