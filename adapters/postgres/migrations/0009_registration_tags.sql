-- Every push stamps the registrations of the passes it pushes with their
-- device's new tag. The tag index made each stamp a new row version with
-- an entry in every index of the table (four); without it, and with room
-- left on each page, a stamp stays on its page and touches no index (a
-- HOT update). "Serials updated since tag" reads a device's registrations
-- of a pass type by the primary key's prefix instead, filtering on tag:
-- a device holds a handful of passes. The fill factor applies to pages
-- written from now on.
DROP INDEX apple_registrations_tag;
ALTER TABLE apple_registrations SET (fillfactor = 70);
