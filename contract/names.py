"""What OCI accepts as a name, a digest or a tag, and what looks like a secret: defined once.

The config model (`stacks.config`), the construct props (`cdk/*.py`) and the rule pack
(`cdk.rules`) all check against these, so a value the config accepts is one the props accept
and the rules judge alike; there is no gap between them to catch at synth time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class NamePattern:
    """A name format: `regex` (unanchored, Python and pydantic syntax), at most `max_length`, in words."""

    regex: str
    max_length: int
    what: str

    @property
    def anchored(self) -> str:
        """The regex for pydantic's `Field(pattern=...)`."""
        return f"^(?:{self.regex})$"

    def matches(self, value: str) -> bool:
        return len(value) <= self.max_length and re.fullmatch(self.regex, value) is not None


# Object Storage: "letters, numbers, dashes, underscores, and periods" (docs.oracle.com, Object
# Storage, Creating a Bucket); "The maximum length for an object and bucket name is 255
# characters" (docs.oracle.com, Object Storage overview, Object Names).
BUCKET_NAME = NamePattern(r"[A-Za-z0-9._-]{1,255}", 255, "1-255 letters, digits, '.', '_' or '-'")
# Data Science projects, jobs and job runs (OCI takes up to 255 characters). No spaces: the job's
# display name is also its output prefix, in `oci://<bucket>@<namespace>/<job_name>/`.
DISPLAY_NAME = NamePattern(r"[A-Za-z0-9._-]{1,255}", 255, "1-255 letters, digits, '.', '_' or '-'")
# IAM groups, policies, dynamic groups, identity domains; Logging log groups and logs.
IAM_NAME = NamePattern(r"[A-Za-z0-9._-]{1,100}", 100, "1-100 letters, digits, '.', '_' or '-'")
LOG_NAME = IAM_NAME
# OCIR: lowercase path components separated by '/' (the OCI distribution spec's repository name).
_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
REPOSITORY = NamePattern(rf"{_COMPONENT}(?:/{_COMPONENT})*", 255, "lowercase path components separated by '/'")
REGISTRY = NamePattern(r"[a-z0-9-]+\.ocir\.io", 253, "an OCIR host such as iad.ocir.io")
NAMESPACE = NamePattern(
    r"[a-z0-9]{1,64}", 64, "the tenancy's Object Storage namespace: 1-64 lowercase letters or digits"
)
IMAGE_TAG = NamePattern(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", 128, "up to 128 letters, digits, '_', '.' or '-'")
DIGEST = NamePattern(r"sha256:[0-9a-f]{64}", 71, "sha256: followed by 64 lowercase hex digits")
SHAPE = NamePattern(
    r"(?:VM|BM)\.[A-Za-z0-9][A-Za-z0-9.-]*", 255, "a shape name such as BM.GPU.H100.8 or VM.Standard.E4.Flex"
)
# Freeform tags: keys 1-100 characters without spaces or dots, values up to 256 characters.
TAG_KEY = NamePattern(r"[^\s.]{1,100}", 100, "1-100 characters without spaces or dots")
TAG_VALUE_MAX_LENGTH = 256

# ---- secrets -------------------------------------------------------------------------------

SECRET_WORDS = frozenset(
    {
        "TOKEN",
        "SECRET",
        "SECRETS",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "CREDENTIALS",
        "APIKEY",
        "ACCESSKEY",
        "PRIVATEKEY",
    }
)
SECRET_PAIRS = frozenset({("API", "KEY"), ("PRIVATE", "KEY"), ("ACCESS", "KEY")})
#: Credential formats, by what they are. Published token prefixes of the issuers named.
SECRET_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("a PEM private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("an sk- API key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")),
    ("a URL with a password", re.compile(r"://[^/\s:@]+:[^/\s@]+@")),
)


def is_secret_name(name: str) -> bool:
    """TOKEN, SECRET, PASSWORD, API_KEY... as whole words (so TOKENIZERS_PARALLELISM is fine)."""
    words = [w for w in re.split(r"[^A-Z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).upper()) if w]
    return bool(SECRET_WORDS.intersection(words)) or any(pair in SECRET_PAIRS for pair in zip(words, words[1:]))


def secret_format(value: str) -> str:
    """What credential `value` holds ("a GitHub token"), or "" when it holds none we know."""
    return next((label for label, pattern in SECRET_FORMATS if pattern.search(value)), "")


# ---- the job's command line ------------------------------------------------------------------

MAX_COMMAND_BYTES = 2048
"""CMD plus ENTRYPOINT must be under this many bytes ("The combined size of CMD and ENTRYPOINT must be
less than 2048 bytes": the OCI SDK model `OcirContainerJobEnvironmentConfigurationDetails`, and the
provider docs of `cmd`/`entrypoint`)."""


def command_bytes(*parts: Sequence[str]) -> int:
    """The size of ENTRYPOINT plus CMD as counted against `MAX_COMMAND_BYTES`: each string's UTF-8
    bytes plus one separator, as in an argv (the API does not say how it counts; this errs high)."""
    return sum(len(arg.encode()) + 1 for part in parts for arg in part)
