"""The study's configuration: the schema (every key, its check and its default), and the
checks that refer to other sections or to files. Everything downstream reads the validated
config that `load_config` / `validate` return, in which every key the schema knows is set."""

from teachergrid.config.inputs import LC_FILES, check_instruction_file
from teachergrid.config.models import TINY_PREFIX
from teachergrid.config.schema import ConfigError, default_of, fill_defaults, schema, section
from teachergrid.config.stages import accumulation_steps
from teachergrid.config.validate import load_config, unpinned, validate

__all__ = [
    "LC_FILES",
    "TINY_PREFIX",
    "ConfigError",
    "accumulation_steps",
    "check_instruction_file",
    "default_of",
    "fill_defaults",
    "load_config",
    "schema",
    "section",
    "unpinned",
    "validate",
]
