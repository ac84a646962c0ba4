-- Which of a code's weighted targets a scan was sent to: 1-based, 0 for codes with one target.
ALTER TABLE scan_events ADD COLUMN variant UInt8 DEFAULT 0;
