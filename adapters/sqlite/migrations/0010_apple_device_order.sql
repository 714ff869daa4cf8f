-- Apple devices and registrations stored in device order (WITHOUT ROWID:
-- the primary key is the table). A push-all pages a template's devices
-- in ID order and touches each batch's devices and registrations; as
-- rowid tables (rows in insertion order) every batch dirtied a page per
-- device in each table, and the single writer spent the push-all
-- writing those pages to the WAL. In key order a batch touches a few
-- adjacent pages.
--
-- The registrations' (device, pass type, tag) index goes: the primary
-- key (device, pass type, pass) now holds a device's registrations of a
-- pass type together, which is the range "serials updated since tag"
-- reads, so the index only cost a delete and an insert per stamp.
--
-- Registrations go aside first, so the devices table they reference can
-- be rebuilt with foreign keys enforced; they come back checked.

CREATE TABLE apple_registrations_old AS SELECT * FROM apple_registrations;
DROP TABLE apple_registrations;

CREATE TABLE apple_devices_new (
    device_library_id TEXT PRIMARY KEY,
    push_token        TEXT NOT NULL,
    last_tag          INTEGER NOT NULL DEFAULT 0,
    updated_at        INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO apple_devices_new (device_library_id, push_token, last_tag, updated_at)
    SELECT device_library_id, push_token, last_tag, updated_at FROM apple_devices ORDER BY device_library_id;
DROP TABLE apple_devices;
ALTER TABLE apple_devices_new RENAME TO apple_devices;
CREATE INDEX apple_devices_push_token ON apple_devices (push_token);

CREATE TABLE apple_registrations (
    device_library_id    TEXT NOT NULL REFERENCES apple_devices (device_library_id),
    pass_type_identifier TEXT NOT NULL,
    pass_id              TEXT NOT NULL,
    workspace_id         TEXT NOT NULL,
    tag                  INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (device_library_id, pass_type_identifier, pass_id)
) WITHOUT ROWID;
INSERT INTO apple_registrations (device_library_id, pass_type_identifier, pass_id, workspace_id, tag, created_at, updated_at)
    SELECT device_library_id, pass_type_identifier, pass_id, workspace_id, tag, created_at, updated_at FROM apple_registrations_old
    ORDER BY device_library_id, pass_type_identifier, pass_id;
DROP TABLE apple_registrations_old;

-- As in 0002: a pass's registrations, and a workspace's devices in ID
-- order (paging a template's devices).
CREATE INDEX apple_registrations_pass ON apple_registrations (workspace_id, pass_id, device_library_id);
CREATE INDEX apple_registrations_workspace_device ON apple_registrations (workspace_id, device_library_id, pass_id);
