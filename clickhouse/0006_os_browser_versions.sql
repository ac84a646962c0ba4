-- OS and browser are stored as families people recognise (iOS, Android, Windows, macOS, …;
-- Safari, Chrome, …) with their versions in columns of their own. Scans stored before this
-- keep the labels of their time (e.g. "iPhone", "Windows 10") and an empty version.
ALTER TABLE scan_events ADD COLUMN os_version String DEFAULT '' AFTER os;
ALTER TABLE scan_events ADD COLUMN browser_version String DEFAULT '' AFTER browser;
