"""§7 Bulk import of users from CSV, in four parts a newcomer can read one at a time:

- `intake`: the ways in (`POST /admin/imports`, an S3 drop), the S3 event, lists and details;
- `run`: the `import_users` job, reading the file as a stream, a chunk at a time, checkpointed;
- `chunks`: one chunk: plan each row, claim the new users' emails, write, change;
- `outcome`: the report, the record completed or failed, the admins' email.
"""

from chalicelib.services.imports.chunks import ChunkProcessor
from chalicelib.services.imports.intake import ImportDetails, ImportOptions, ImportService, NewImport
from chalicelib.services.imports.outcome import ImportOutcome
from chalicelib.services.imports.run import IMPORT_JOB, ImportRun

__all__ = [
    "IMPORT_JOB",
    "ChunkProcessor",
    "ImportDetails",
    "ImportOptions",
    "ImportOutcome",
    "ImportRun",
    "ImportService",
    "NewImport",
]
