# Names vulture reports as unused that are used, each with where. `vulture src/tisa
# .ci/vulture_whitelist.py` (CI) reads this file as code that uses them. Route handlers and
# commands are registered by their decorators (`--ignore-decorators` in .ci/run).
# ruff: noqa
from tisa.api.errors import ErrorBody
from tisa.attachments import scrub
from tisa.blobs.store import BlobStore
from tisa.domain import consent, markings, model
from tisa.domain.wire import Strict
from tisa.fusion import scenario
from tisa.fusion import scoring as fusion_scoring
from tisa.node import metrics, runtime, supervisor
from tisa.relay import messages
from tisa.store import audit, database, products, tables
from tisa.stix import ingest
from tisa.tracks import scoring
from tisa.web import audit_view, vocabulary

# pydantic reads a model's configuration by this name.
ErrorBody.model_config
Strict.model_config

# Set on library objects, which read them: pypdf's writer drops XMP with it, zipfile writes
# each member with its compression, ssl.SSLError carries OpenSSL's code for the refusal.
_.xmp_metadata
_.compress_type
_.verify_code

# Vocabularies read from input and signed payloads (any member may arrive), and the marking
# syntax the domain offers (prosigns, US portion marks), tested in tests/domain.
markings.SourceReliability.A
markings.SourceReliability.C
markings.SourceReliability.D
markings.SourceReliability.E
markings.InformationCredibility.CONFIRMED
markings.InformationCredibility.POSSIBLY_TRUE
markings.InformationCredibility.DOUBTFUL
markings.InformationCredibility.IMPROBABLE
markings.Precedence.prosign
markings.Markings.portion
model.MissileClass.MRBM
model.MissileClass.SLBM
messages.Attestation.relayed_at
messages.ConsentDenial.denied_at
# Entries of logs written before peers' checkpoints were kept outside the log.
audit.Action.PEER_CHECKPOINT

# Fields of stored rows, mirrored whole from their tables; a task's start, for its health.
products.ProductRow.released_by
products.DeliveryRow.queued_at
supervisor.TaskHealth.started_at

# Protocols of the libraries that call them: prometheus collectors, uvicorn servers,
# SQLAlchemy type decorators, the DBAPI connection.
metrics._QueueCollector.collect
metrics._TaskCollector.collect
runtime._Server.install_signal_handlers
_.should_exit
tables.UTCDateTime.impl
tables.UTCDateTime.cache_ok
tables.UTCDateTime.process_bind_param
tables.UTCDateTime.process_result_value
_.isolation_level

# Read by bench/fusion.py and tests/fusion (scores a generated scenario).
scenario.score
scenario.Score.exact_events
scenario.Score.normalised_error
scenario.Score.samples

# Message ids for the catalogs: babel extracts them, templates translate them by value.
vocabulary.STATES
vocabulary.ATTACHMENT_KINDS

# The blob store's listing and its remedy for a partial of another size: no node path needs
# them (the sweeper clears abandoned partials), the tests do — tests/e2e/test_attachments.py
# proves with iter_digests that a refusal or a recall leaves no blob behind, and
# tests/blobs/test_partials.py and test_locks.py use discard_partial, the step the Conflict
# names.
BlobStore.iter_digests
BlobStore.discard_partial

# Stream modes arrive in consents (forms, the API, signed payloads); covers_stream is what the
# hub's live-track relay asks of a consent. The relay is being built; until it lands, only
# tests/domain/test_model.py asks it.
consent.StreamMode.LIVE
consent.StreamMode.EXERCISE
consent.Consent.covers_stream

# A database built inside a transaction its owner already began: the store tests on
# PostgreSQL run each test in one and roll it back (tests/harness/databases.py).
database.Database.joining

# The accuracy benchmark's measures (bench/track_accuracy.py, outside vulture's view): each
# fused report set against the nation estimates it was fused from, and the chi-square band of
# an ANEES; tests/tracks/test_track_scoring.py holds them to their definitions.
scoring.anees_interval
scoring.fused_samples
scoring.FusedSample.since_launch_s
scoring.FusedSample.error_m
scoring.FusedSample.source_nees
scoring.FusedSample.best_single_m
scoring.FusedSample.most_confident

# The STIX mapping's inbound half: the TAXII server and the CLI call it (built on it in
# parallel); tests/stix today.
ingest.drafts_of

# Read by bench/fusion.py (outside vulture's paths) to report salvo counts per stress family.
fusion_scoring.Score.salvo_count_exact

# Read by templates/audit.html (a value to translate, not to show as written).
audit_view.Detail.word
