// Package history decides what a folder keeps of its past: the
// versioning mode (which changes keep the version they replace) and the
// retention limits (versions per file, maximum age, maximum total size),
// as the user sets them, and, from plain data, which kept versions are
// past those limits. It does no I/O: the folder acts on its answers.
package history
