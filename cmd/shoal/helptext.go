package main

// details is what `shoal NAME --help` prints beyond the usage line and
// the flags: what a user needs to know to use the command well. A command
// without an entry prints only those.
func details(name string) string {
	switch name {
	case "init":
		return `The home holds the node key (node.key), the block store (blocks/) and,
while a daemon runs, its API address and token. Every command creates the
home when it is missing, so init is optional; on an existing home it says so
and changes nothing.
`
	case "id":
		return `Prints the node ID, then, while a daemon runs, the addresses peers
connect to (NODEID@HOST:PORT, what --peer takes on another machine).
`
	case "daemon":
		return `Runs in the foreground until Ctrl-C or SIGTERM, logging to stderr (-v for
more). While it runs, every other command on this home goes through its
local API (127.0.0.1 only, with the token it writes into the home), and
cat, get, ls and pin add fetch what the store lacks from connected peers.
`
	case "add":
		return `Prints "added CID NAME" for every file and directory, the directory last.
Chunkers: fastcdc (default: content-defined, 16/64/256 KiB min/avg/max),
fastcdc-MIN-AVG-MAX, or size-N (fixed N bytes; size-262144 gives kubo's CIDs).
`
	case "share":
		return `Creates a folder with a fresh key at DIR (made if missing), prints its
read-write key (whoever has it can change files) and read-only key (can only
receive), and syncs it. With a daemon on this home the daemon syncs it from
now on, across restarts; without one, share runs the folder in the
foreground until Ctrl-C, with the flags below. Sharing a folder that is
shared already prints its keys again.
`
	case "join":
		return `Syncs the folder that KEY names into DIR: an empty or missing DIR is
filled from peers; files already in DIR are merged (where both sides differ,
the other version is kept as a conflict copy, never overwritten). With a
read-only key, DIR receives changes and never sends any; its local edits
show in shoal status and shoal revert puts them back. Without a daemon, join
runs in the foreground until Ctrl-C. With --only PATTERN (repeatable) only
the selected paths are synced (see shoal folder select --help).
`
	case "folder":
		return `Selective sync: a folder joined with --only PATTERN (or changed by folder
select) syncs only the paths its patterns select; the rest stays in the
folder's index, listed by shoal ls-remote and brought in by shoal fetch.
Versioning and retention: shoal folder set DIR KEY=VALUE (see shoal folder
set --help).
`
	case "folder select":
		return `Patterns are gitignore-style and relative to the folder root: "docs" is any
directory or file named docs, "/docs" only the top-level one, "*.pdf" every
PDF, "photos/2026/**", and "!docs/drafts" takes a path back out; the last
pattern that matches a path or one of its directories decides. Directories
on the way to a selected file are made when it is pulled.

Without an option the patterns replace the selection; with none at all it
prints the selection. Newly selected files are pulled at once. Files no
longer selected stay on this disk but are no longer synced either way: their
edits here are not sent, peers' changes to them are not pulled, and deleting
them here deletes nothing on the peers. Deleting a selected file deletes it
everywhere, as in a full folder. The selection is kept across restarts.
`
	case "ls-remote":
		return `Lists the folder's index as its peers published it, whether or not the
files are on this machine: path, type, size, modification time, PEERS (how
many of the connected folder peers hold this version, out of how many are
connected) and HERE (yes, another version, or no; "not selected" when
selective sync leaves it out). PATH, relative to the folder, lists one file
or one subtree; --depth 1 lists one directory.
`
	case "fetch":
		return `Pulls one file or directory of a folder from its peers through the normal
puller (every block verified, written to a temporary file, synced to disk,
renamed into place), and waits until it is here. The path is added to the
folder's selection (as an anchored, literal pattern), so it stays synced
from then on; shoal folder select --remove takes it out again. A path the
folder's index does not hold is refused, as is one outside the folder.
`
	case "status":
		return `Per folder: its state (scanning, syncing, idle, or stopped with the
error), files and bytes in the folder and still needed here, the peers
sharing it now, conflict copies made, paths skipped (unreadable, or names
this disk cannot hold) and, for read-only folders, files changed here.
`
	case "history":
		return `Lists every version of the file the folder's index knows (the replaced
ones its retention keeps, 10 by default, and the current one), oldest
first: when, its size, the device that made it, its CID, and where its
blocks are: here, on N of the folder's peers connected now, or nowhere.
Versions replaced by a peer's change are kept in DIR/.shoal/versions/.
`
	case "folder set":
		return `shoal folder set DIR KEY=VALUE... changes what the folder keeps of its
past, at once and across restarts (share and join take the same as flags):
  versioning=remote  keep what a peer's change replaces or deletes (default)
  versioning=all     keep local edits too: the folder's files are copied into
                     the store as they are scanned, since an edit in place
                     leaves no old bytes on disk (costs the folder's size again)
  versions=10        versions kept per file (0: none)
  max-age=30d        how long after it was replaced a version is kept (0: no limit)
  max-size=10%       total size of kept versions: a share of the folder, or 5GiB
                     (each file's newest version stays a day whatever the size)
Retention runs every 10 minutes and before shoal gc; a version a restore is
reading is kept until it is done.
`
	case "restore":
		return `Brings back a version listed by shoal history, chosen by --version N or
--at TIME. Without -o it comes back as a new change of the file, synced to
the peers, and the version it replaces is kept in .shoal/versions/; with -o
it is written to OUT and the folder is left as it is. Blocks this machine
lacks are fetched from peers, each verified; if none has them the restore
fails and changes nothing.
`
	case "snapshot":
		return `Builds the folder's tree as it is now, or with --at as it was then (each
file's last version not newer than TIME, from the index's history), from
its index, without reading or copying file data, pins it and prints its
CID: the same CID shoal add --hidden gives for the same files (symlinks and
ignored paths left out). --at before the oldest version the index keeps,
or in the future, is refused. Like
any pin it is public: peers, the gateway and anyone given the CID can fetch
it; export it as a CAR with shoal export.
`
	case "revert":
		return `For a read-only folder: every path changed here is moved into
DIR/.shoal/versions/ (kept, not deleted) and the folder's version is
brought back from peers.
`
	case "cat":
		return `With a daemon, content the store lacks is fetched from peers and written
as it arrives.
`
	case "get":
		return `The output defaults to the CID, or the last element of the path. An
existing output is refused unless --force is given; an empty directory
takes a directory CID. --force replaces the output with exactly the CID's
content: it is written beside it and swapped in once complete, and the old
one removed only then. A get from peers that is interrupted keeps the
partial temporary files of large files; run it again to resume.
`
	case "pin":
		return `add and import pin by default; gc removes what no pin needs.
`
	case "pin add":
		return `A recursive pin (the default) needs the whole DAG: with a daemon, what
the store lacks is fetched from peers first.
`
	case "gc":
		return `Removes every block that no pin (and no fetch under way) needs, and says
how much it freed.
`
	case "export":
		return `Writes the DAG under CID as a CAR v1 (kubo's ipfs dag export reads it).
`
	case "import":
		return `Checks every block against its CID and that each root's DAG is complete
before it stores anything; a bad CAR changes nothing.
`
	case "dht":
		return `Nothing is sent beyond the addresses you give unless you pass --global,
which joins the public mainline DHT through its well-known routers. One-shot
subcommands give up after 1m unless --timeout says otherwise.
`
	case "dht providers":
		return `Daemons announce every root they pin under the CID's provider key; this
prints who did, one NODEID@HOST:PORT or HOST:PORT a line.
`
	}
	return ""
}
