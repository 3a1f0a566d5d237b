"""Every key of the main table is built here, and nowhere else.

Every partition key starts with the domain (`D#<domain>`): a repository cannot name an item
without naming its tenant, and an id from another domain builds a key that does not exist.
docs/DATA_MODEL.md lists the item types these keys make and the access patterns they serve.
"""

from __future__ import annotations

# Sort keys of single items
META = "META"
PROFILE = "PROFILE"
EMAIL = "EMAIL"
LOGIN_FAILURES = "LOGIN_FAILURES"

# Sort key prefixes
TOKEN_PREFIX = "TOKEN#"  # noqa: S105 - a key prefix
MEMBER_PREFIX = "MEMBER#"
GROUP_PREFIX = "GROUP#"


def domain_pk(domain: str) -> str:
    return f"D#{domain}"


def user_pk(domain: str, user_id: str) -> str:
    return f"D#{domain}#U#{user_id}"


def email_pk(domain: str, email: str) -> str:
    return f"D#{domain}#E#{email}"


def group_pk(domain: str, group_id: str) -> str:
    return f"D#{domain}#G#{group_id}"


def audit_pk(domain: str) -> str:
    return f"D#{domain}#AUDIT"


def token_sk(token_hash: str) -> str:
    return f"{TOKEN_PREFIX}{token_hash}"


def member_sk(user_id: str) -> str:
    return f"{MEMBER_PREFIX}{user_id}"


def group_sk(group_id: str) -> str:
    return f"{GROUP_PREFIX}{group_id}"


def audit_sk(at_iso_ms: str, entry_id: str) -> str:
    return f"{at_iso_ms}#{entry_id}"


# GSI1: "what belongs to this user", the inverse of memberships (and later: messages, files...)
def user_memberships_gsi1pk(domain: str, user_id: str) -> str:
    return f"D#{domain}#U#{user_id}#GROUPS"


# GSI2: domain-wide lists (groups of a domain; later users by name prefix and so on)
def domain_groups_gsi2pk(domain: str) -> str:
    return f"D#{domain}#GROUPS"


# GSI1 on a group's META: the groups a user created (none for the pre-shipped ones)
def created_groups_gsi1pk(domain: str, user_id: str) -> str:
    return f"D#{domain}#U#{user_id}#CREATED_GROUPS"


# GSI3 (sparse): the default groups of a domain; only default groups carry these keys
def default_groups_gsi3pk(domain: str) -> str:
    return f"D#{domain}#DEFAULT_GROUPS"


# --- users (issue 4) ----------------------------------------------------------------------
INVITE = "INVITE"


def roster_pk(domain: str) -> str:
    """Every user of a domain once, sorted by status then id (lists without a search)."""
    return f"D#{domain}#ROSTER"


def roster_sk(status: str, user_id: str) -> str:
    return f"{status}#{user_id}"


def two_factor_roster_pk(domain: str, enrolment: str) -> str:
    """The users of a domain under their 2FA enrolment (`enrolled` / `not_enrolled`)."""
    return f"D#{domain}#TFA#{enrolment}"


def user_search_pk(domain: str) -> str:
    """Four entries a user (first name, last name, email, full name), for prefix search."""
    return f"D#{domain}#USEARCH"


def user_search_sk(token: str, kind: str, user_id: str) -> str:
    return f"{token}#{kind}#{user_id}"


# The owner of the operator's jobs (a domain's deletion): not a domain name, which is lower case.
PLATFORM_SCOPE = "PLATFORM"


def _jobs_owner(domain: str) -> str:
    """A job's partition prefix: its domain's, or the platform's for the operator's jobs (which
    outlive the domain they delete)."""
    return PLATFORM_SCOPE if domain == PLATFORM_SCOPE else f"D#{domain}"


def job_pk(domain: str, job_id: str) -> str:
    return f"{_jobs_owner(domain)}#JOB#{job_id}"


# --- groups, messages, chats, files (issue 4) ---------------------------------------------
CHAT_PREFIX = "CHAT#"
ATTACHMENT_PREFIX = "IN#"


def group_messages_pk(domain: str, group_id: str) -> str:
    """A group's messages, sorted by message id (time-sortable)."""
    return f"{group_pk(domain, group_id)}#MSGS"


def chat_pk(domain: str, user_a: str, user_b: str) -> str:
    """A private chat is named by its two users' ids, sorted: the same chat from either side."""
    first, second = sorted((user_a, user_b))
    return f"D#{domain}#C#{first}#{second}"


def chat_messages_pk(domain: str, user_a: str, user_b: str) -> str:
    return f"{chat_pk(domain, user_a, user_b)}#MSGS"


def chat_of_user_sk(other_user_id: str) -> str:
    """In the user's own partition: one item per private chat the user has (a later deletion
    finds them with begins_with CHAT#)."""
    return f"{CHAT_PREFIX}{other_user_id}"


def group_container(group_id: str) -> str:
    return f"G#{group_id}"


def chat_container(user_a: str, user_b: str) -> str:
    first, second = sorted((user_a, user_b))
    return f"C#{first}#{second}"


def file_pk(domain: str, file_id: str) -> str:
    return f"D#{domain}#F#{file_id}"


def attachment_sk(container: str, message_id: str) -> str:
    """In the file's partition: one item per message that carries the file."""
    return f"{ATTACHMENT_PREFIX}{container}#{message_id}"


# GSI1 on messages and files: what a user posted and uploaded (a user's deletion reads these)
def user_messages_gsi1pk(domain: str, user_id: str) -> str:
    return f"D#{domain}#U#{user_id}#MESSAGES"


def user_files_gsi1pk(domain: str, user_id: str) -> str:
    return f"D#{domain}#U#{user_id}#FILES"


# --- devices (issue 6) ----------------------------------------------------------------------
def domain_devices_gsi2pk(domain: str) -> str:
    """GSI2: the devices of a domain, by user name."""
    return f"D#{domain}#DEVICES"


# --- two-factor sign-in (issue 7), in the user's partition --------------------------------------
TWO_FACTOR = "TWOFACTOR"
CHALLENGE_PREFIX = "CHALLENGE#"
TRUSTED_PREFIX = "TRUSTED#"


def challenge_sk(id_hash: str) -> str:
    return f"{CHALLENGE_PREFIX}{id_hash}"


def trusted_sk(token_hash: str) -> str:
    return f"{TRUSTED_PREFIX}{token_hash}"


# --- CSV imports (issue 8) ------------------------------------------------------------------------
IMPORT_ERROR_PREFIX = "ERR#"
IMPORT_NEW_USER_PREFIX = "NEW#"
IMPORT_MARKER_PREFIX = "IMPORT#"


def import_pk(domain: str, import_id: str) -> str:
    return f"D#{domain}#IMPORT#{import_id}"


def domain_imports_pk(domain: str) -> str:
    """A domain's import records, by id (that is, by creation time)."""
    return f"D#{domain}#IMPORTS"


def import_sk(import_id: str) -> str:
    return f"IMPORT#{import_id}"


def import_object_pk(domain: str, identity: str) -> str:
    return f"D#{domain}#IMPORTOBJ#{identity}"


def import_error_sk(line: int, number: int = 0) -> str:
    return f"{IMPORT_ERROR_PREFIX}{line:012d}#{number:03d}"


def import_new_user_sk(line: int) -> str:
    return f"{IMPORT_NEW_USER_PREFIX}{line:012d}"


def import_marker_sk(import_id: str) -> str:
    """In an email's partition: the row of this import that claimed the email."""
    return f"{IMPORT_MARKER_PREFIX}{import_id}"


def admins_pk(domain: str) -> str:
    """The admins of a domain (sparse: only admins have an entry), by status then name."""
    return f"D#{domain}#ADMINS"


# --- lists (issue 14) -----------------------------------------------------------------------------
def platform_domains_pk() -> str:
    """The operator's list of every domain: one listing entry a domain, by creation time. The
    one partition above the tenants (it names no domain: it lists them)."""
    return "PLATFORM#DOMAINS"


def platform_domains_by_status_gsi2pk(status: str) -> str:
    """GSI2 on a domain's listing entry: the domains of one status, by creation time."""
    return f"PLATFORM#DOMAINS#{status}"


def platform_domain_sk(created_at_iso_ms: str, domain: str) -> str:
    return f"{created_at_iso_ms}#{domain}"


def domain_jobs_gsi2pk(domain: str) -> str:
    """GSI2 on a job: the jobs of a domain (or the platform's), by id (ids sort by creation time)."""
    return f"{_jobs_owner(domain)}#JOBS"


def domain_jobs_by_status_gsi3pk(domain: str, status: str) -> str:
    """GSI3 on a job: the jobs of a domain in one status, by id; the job's Put moves it."""
    return f"{_jobs_owner(domain)}#JOBS#{status}"


def user_chats_gsi1pk(domain: str, user_id: str) -> str:
    """GSI1 on a "chat of a user" item: the user's chats, by the time of their last message."""
    return f"D#{domain}#U#{user_id}#CHATS"


def user_chat_gsi1sk(last_message_at_iso_ms: str, other_user_id: str) -> str:
    return f"{last_message_at_iso_ms}#{other_user_id}"


# --- integrations of a group (issue 15) -----------------------------------------------------------
INTEGRATION_PREFIX = "INTEGRATION#"
HOOK = "HOOK"
CHANNEL = "CHANNEL"


def integration_sk(service: str) -> str:
    """In the group's partition: the group's integration with one service (one a service)."""
    return f"{INTEGRATION_PREFIX}{service}"


def domain_integrations_gsi2pk(domain: str, service: str) -> str:
    """GSI2 on an integration: the groups of a domain that use a service (the services page
    counts them), by group id."""
    return f"D#{domain}#INTEGRATIONS#{service}"


def hook_pk(service: str, secret_hash: str) -> str:
    """A webhook URL's lookup item, by the SHA-256 of its secret. Above the tenants: the URL
    names no domain (it is all Slack or MailChimp has); the item says which group it feeds."""
    return f"HOOK#{service}#{secret_hash}"


def slack_channel_pk(team_id: str, channel_id: str) -> str:
    """A Slack channel's lookup item (Events API): the one group it is connected to."""
    return f"SLACKCH#{team_id}#{channel_id}"


def relay_pk(domain: str, group_id: str) -> str:
    """A group's relay markers (with a TTL): a Slack message already posted into the group, a
    group message already posted to Slack; they make both directions idempotent."""
    return f"{group_pk(domain, group_id)}#RELAY"


def relay_in_sk(channel_id: str, ts: str) -> str:
    return f"IN#{channel_id}#{ts}"


def relay_out_sk(message_id: str) -> str:
    return f"OUT#{message_id}"


def oauth_state_pk(domain: str) -> str:
    """The OAuth `state` values of a domain already used (with a TTL past their expiry)."""
    return f"D#{domain}#OAUTHSTATE"


# --- problem reports (issue 17) -------------------------------------------------------------------
def report_pk(domain: str, report_id: str) -> str:
    """A problem report: found by its id alone (the upload's key names the domain and the id)."""
    return f"D#{domain}#REPORT#{report_id}"


def reports_window_sk(hour: str) -> str:
    """In the reporter's partition: how many reports they made in one hour (`YYYY-MM-DDTHH`)."""
    return f"REPORTS#{hour}"


# --- the partitions of a domain (issue 17: deleting a domain) ---------------------------------------
def partitions_pk(domain: str) -> str:
    """The registry of a domain's partitions whose names hold an id (a user, a group, a file, an
    import, a report...): one entry a family, written when the family is born, so that the
    domain's deletion reaches every item by Query, never by Scan."""
    return f"D#{domain}#PARTS"


def fixed_partitions(domain: str) -> list[str]:
    """The domain's partitions whose names hold no id: every domain has (at most) these, so
    they need no registry entry. The domain's META partition is not among them (it goes last)."""
    return [
        roster_pk(domain),
        two_factor_roster_pk(domain, "enrolled"),
        two_factor_roster_pk(domain, "not_enrolled"),
        user_search_pk(domain),
        admins_pk(domain),
        domain_imports_pk(domain),
        oauth_state_pk(domain),
        audit_pk(domain),
    ]
