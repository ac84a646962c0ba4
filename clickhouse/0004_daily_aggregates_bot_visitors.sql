-- bot_visitors: unique scanners among bots, kept apart from `visitors` (humans) so reports can
-- exclude or include bots. Visitor hashes are salted per day and bots and humans never share one,
-- so uniqMerge(visitors) + uniqMerge(bot_visitors) is the unique count with bots.
-- project_id: the code's project at scan time, so project reports read the same from rollups as
-- from raw events.
ALTER TABLE daily_aggregates
    ADD COLUMN bot_visitors AggregateFunction(uniq, String),
    ADD COLUMN project_id UUID
