//! The queue handlers that feed the [`Ingestor`]: scan batches (`scans` queue) and code
//! metadata copies (`qr-metadata` queue).

use actix::Addr;
use apalis::prelude::{BoxDynError, Data};
use qrsaas_jobs::{IngestScans, SyncQrMetadata};

use super::ingest::{Ingest, Ingestor, SyncCode};
use crate::billing::meter::{Fold, UsageMeter};

/// What the `scans` handler needs: the ingestor, and the meter told of new usage.
#[derive(Clone)]
pub struct Ingestion {
    pub ingestor: Addr<Ingestor>,
    pub meter: Addr<UsageMeter>,
}

pub async fn ingest_scans(job: IngestScans, to: Data<Ingestion>) -> Result<(), BoxDynError> {
    let batch = job.batch_id;
    let result: Result<(), BoxDynError> = match to.ingestor.send(Ingest(job)).await {
        Ok(Ok(_)) => {
            // The batch's usage is recorded; the meter folds it now rather than on its tick.
            to.meter.do_send(Fold);
            Ok(())
        }
        Ok(Err(e)) => Err(e.into()),
        Err(mailbox) => Err(Box::new(mailbox)),
    };
    if let Err(e) = &result {
        metrics::counter!("scan_ingest_failures_total").increment(1);
        tracing::warn!(%batch, error = %e, "scan batch not ingested; will retry");
    }
    result
}

pub async fn sync_metadata(
    job: SyncQrMetadata,
    ingestor: Data<Addr<Ingestor>>,
) -> Result<(), BoxDynError> {
    match ingestor.send(SyncCode(job.qr_id)).await {
        Ok(r) => r.map_err(Into::into),
        Err(mailbox) => Err(Box::new(mailbox)),
    }
}
