-- Version 3: find the groups an address belongs to without scanning every membership.
CREATE INDEX group_members_member ON group_members(member);
