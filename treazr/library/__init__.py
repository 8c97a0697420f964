"""The ROM library: identification, hashing, archives, naming, the content store and rescans."""
