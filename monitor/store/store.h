// The store: every run, sample, verdict and event in one SQLite file, kept for years.
//
//   auto store = dw::store::Store::open(config.database);
//   if (!store) ...                       // "FILE: message": unreadable, foreign, too new
//   auto run = (*store)->begin_run(run_at, clock.now());
//   (*store)->upsert_probes(probes); (*store)->upsert_endpoint("deepseek", "openai", url, model);
//   auto id = (*store)->add_sample({*run, "tiananmen-1989-en", version, "deepseek", 1, model,
//                                   clock.now()}, sample);    // batched
//   (*store)->finish_run(*run, clock.now(), RunStatus::complete);  // commits the batch first
//
// The schema is a public interface documented in README.md ("The database"); it is created and
// migrated on open; commands that only read use open_readonly, which changes nothing. A sample
// row holds integers only (ids of its endpoint, probe version, texts and repeated strings);
// each distinct text is stored once, as a zstd frame when that is smaller, with a dictionary
// trained on its probe's answers from its endpoint, or on all the endpoint's answers, once
// there are enough (finish_run trains them). The file runs in WAL mode with
// synchronous=NORMAL: a power cut may lose the last commits but never corrupts the file, and
// readers (reports, Grafana) never block the writer. Several processes may open the same
// file; writes wait up to the busy timeout.
//
// Threads: a Store is used from one thread at a time. Errors are values; nothing throws.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "common/time.h"
#include "probes/probe.h"
#include "providers/sample.h"

namespace dw::store {

class Codec;
class Db;
class Dictionary;
class KeyNames;
class Statement;
class Tx;

enum class RunStatus { running, complete, incomplete };
std::string_view to_string(RunStatus s);

struct RunInfo {
  int64_t id = 0;
  Time run_at;                      // the instant the run stands for (maybe a backfill)
  Time started_at;                  // wall-clock start
  std::optional<Time> finished_at;  // absent while running or when interrupted
  RunStatus status = RunStatus::running;
  int64_t samples = 0;  // committed samples of the run
};

// Where a sample belongs. seq numbers the samples of one probe x endpoint within a run
// (1, 2, 3...); the same (run, endpoint, probe version, seq) cannot be stored twice.
struct SampleKey {
  int64_t run_id = 0;
  std::string probe_id;
  std::string probe_version;
  std::string endpoint;
  int seq = 1;
  std::string requested_model;      // the model the request asked for
  std::optional<Time> received_at;  // when the answer arrived
};

// A verdict and what goes with it; filled by the classifier, maybe long after the sample.
struct Classification {
  std::string verdict;              // answered | refused | deflected | filtered | error
  std::string signals_json = "[]";  // JSON array of rule ids
  bool narrative = false;
  std::optional<double> expect_coverage;  // 0..1; absent when the probe has no expect
  std::string classifier_version;
};

// Why a verdict was reached, kept beside it for reports; written, not read back by iteration.
struct Explanation {
  bool uncertain = false;  // the rules were unsure (a small margin, a hard shape)
  std::string json;        // the classifier's explanation (analysis::explanation_json)
};

// What a judge (monitor/judge) said of one response text, asked with one model and version of
// its prompt.
struct Judgement {
  std::string verdict;         // answered | refused | deflected; "" when its reply was unusable
  std::string reason;          // the judge's one sentence, or why its reply was unusable
  std::string model;           // the judge's model, as configured
  std::string prompt_version;  // of the judge's prompt
  Time judged_at;
};

// A stored sample as iteration returns it, joined with its run, probe and texts.
struct SampleRow {
  int64_t id = 0;
  int64_t run_id = 0;
  Time run_at;
  SampleKey key;
  std::string category;  // of the probe version
  std::string lang;
  bool control = false;
  // text and error_body are "" when not asked for (SampleFilter::with_text = false; error_body
  // also with with_details = false).
  providers::Sample sample;
  std::string response_hash;                     // "" when there is no text
  // Absent until classified. Its verdict is the final one: the judge's when a judgement with a
  // verdict applies to the sample and the rules said answered, refused or deflected; the
  // rules' otherwise.
  std::optional<Classification> classification;
  std::string rules_verdict;               // the rules' own verdict; "" until classified
  std::optional<Judgement> judgement;      // the judgement that applies to the sample, if any
  // The stored features of the response text in SampleFilter::features_version; "" when
  // none are stored in that version (or it was not asked for).
  std::string features;
};

// A sample the judge has not yet seen (Store::for_each_unjudged).
struct Unjudged {
  int64_t sample_id = 0;
  int64_t run_id = 0;
  std::string endpoint;
  std::string probe_id;
  std::string response_hash;
  std::string text;           // the reply
  std::string prompt;         // of the sample's probe version
  std::string rules_verdict;  // answered | refused | deflected
  // A judgement of this text by this judge (model, prompt version), already stored: the
  // sample only needs linking to it.
  std::optional<int64_t> judgement_id;
  std::string judgement_verdict;  // that judgement's verdict ("" when its reply was unusable)
};

// Which samples for_each_unjudged yields: those with a reply whose rules' verdict is answered,
// refused or deflected, not yet linked to a judgement by this model and prompt version.
struct UnjudgedFilter {
  std::string model;
  std::string prompt_version;
  bool uncertain_only = true;         // only samples the rules were unsure of
  std::optional<Time> since{};        // only runs with run_at >= since
  std::optional<int64_t> below_id{};  // only samples with id < below_id (paging)
  int limit = 256;                    // at most this many rows
};

// Every field narrows; unset fields match everything. Times compare with the run's run_at:
// since <= run_at < until.
struct SampleFilter {
  std::optional<std::string> endpoint{};
  std::optional<std::string> probe_id{};
  std::optional<std::string> probe_version{};
  std::optional<int64_t> run_id{};
  std::optional<Time> since{};
  std::optional<Time> until{};
  bool with_text = true;  // join the response text (and error body: with_details)
  // When set, rows carry the text's features of this version (put_features), and with_text
  // reads the response text only of rows that have none: features stand in for the text.
  std::optional<std::string> features_version{};
  // false: the requested model, finish and block reasons, error, classifier version and error
  // body are left empty and signals read "[]" (drift reads none of them; each is one more
  // value to look up and copy per row).
  bool with_details = true;
  // When set, a row's texts are decompressed only if this returns true for the row (its other
  // fields filled); otherwise they are left empty. For callers that read a text once per
  // content: a run repeats many answers (canned refusals most of all), and each is a zstd
  // frame to decode. The response text is then read as its row is passed on, not with the
  // row: a text removed in between (by another connection) reads as none.
  std::function<bool(const SampleRow&)> wants_text{};
};

enum class EventStatus { open, resolved };
std::string_view to_string(EventStatus s);

// A detected drift. The JSON columns are the drift module's to shape; the store only checks
// that they are valid JSON.
struct Event {
  int64_t id = 0;        // assigned by insert_event
  std::string type;      // verdict_shift, content_shift, ... (SPEC.md "Events")
  std::string endpoint;  // "" when not about one endpoint
  std::string probe_id;  // "" for endpoint-wide events
  std::string probe_version;
  std::string scope;  // "broad" | "targeted" | "" when not applicable
  EventStatus status = EventStatus::open;
  Time detected_at;
  std::optional<int64_t> detected_run_id;
  std::optional<Time> resolved_at;
  std::optional<int64_t> resolved_run_id;
  std::string before_json = "{}";
  std::string after_json = "{}";
  std::string evidence_json = "{}";
};

// Every field narrows; unset fields match everything (designated initializers welcome).
// Events that were open at some point of [since, until): detected before until and not
// resolved before since. Ordered by detected_at, then id.
struct EventFilter {
  std::optional<std::string> type{};
  std::optional<std::string> endpoint{};
  std::optional<std::string> probe_id{};
  std::optional<Time> since{};
  std::optional<Time> until{};
  bool only_open = false;
  // false: in whatever order the indexes give them, for a caller that holds them all and
  // sorts them itself (SQLite's sort copies every row, evidence and all, to order them).
  bool ordered = true;
};

// Which runs Store::list_runs yields; unset fields match everything. Times compare with run_at:
// since <= run_at < until.
struct RunQuery {
  std::optional<Time> since{};
  std::optional<Time> until{};
  bool newest_first = false;      // latest run_at (then id) first; else oldest first
  std::optional<int64_t> limit{};  // at most this many
};

// A probe version under a small integer of the store's (Store::probe_key): what drift's run
// summaries refer to probes by.
struct ProbeKey {
  int64_t id = 0;
  std::string probe_id;
  std::string probe_version;
  bool control = false;  // the probe version's control flag as stored now
};

// One endpoint's part of a run's summary (Store::put_run_cells): what drift detection counted
// of the run, in its own encoding named by `version`. The store never looks inside `data`.
struct RunCells {
  int64_t run_id = 0;
  Time run_at;  // of the run (read only)
  std::string endpoint;
  int64_t version = 0;
  std::string data;
  // run_texts only: a second part, read apart from data and only when asked for
  // (Store::run_signatures): detection reads it of a few of the rows whose data it reads.
  std::string signatures;
};

// A row of run_cells or run_texts as read: its strings are the store's memory, valid only
// during the callback (the texts' rows are tens of KiB: copied only by who keeps them).
struct RunCellsView {
  int64_t run_id = 0;
  Time run_at;
  std::string_view endpoint;
  int64_t version = 0;
  std::string_view data;
  // run_texts: its signatures' size in bytes and whether they are a blob (not read; another
  // type, hand-written, is no signatures: length() would count characters).
  int64_t signatures_size = 0;
  bool signatures_blob = false;

  RunCells copy() const {  // without the signatures, which are not read
    return {run_id, run_at, std::string(endpoint), version, std::string(data), {}};
  }
};

// A day's block (Store::put_day_block): drift's own encoding, named by `version`.
struct DayBlock {
  std::string day;  // "YYYY-MM-DD"
  int64_t version = 0;
  std::string data;
};

// What Store::remove_samples_before removed.
struct Removed {
  int64_t samples = 0;
  int64_t texts = 0;  // texts no sample used any more, with their features and judgements
};

// Where pushing to a fleet's central database stands (Store::push_state).
struct PushState {
  int64_t backlog = 0;              // finished runs not yet pushed
  std::optional<Time> last_pushed;  // the latest pushed_at; absent when nothing was pushed
};

struct Options {
  int batch_size = 64;  // batched writes per commit; a crash loses at most this many
  std::chrono::milliseconds busy_timeout{10000};  // how long a write waits for another writer
  // for_each_sample holds one run's rows (their texts as stored) to put them in order itself,
  // up to about this many bytes; a larger run is ordered by SQLite, more slowly.
  size_t sort_memory = size_t{16} << 20;
};

class Transaction;

class Store {
 public:
  // Opens or creates the database at path, migrates it to the current schema and marks runs
  // left 'running' by a process that is gone as 'incomplete' (see recover_interrupted_runs).
  // Fails, changing nothing, on a file that is not an SQLite database, belongs to another
  // program, or has a schema newer than this program knows.
  static Result<std::unique_ptr<Store>> open(const std::string& path, Options options = {});

  // open() for commands that change what is stored but never add to it (reclassify, judge,
  // push): fails, naming path, when there is no file there, as open_readonly does, instead of
  // creating one at a mistyped path.
  static Result<std::unique_ptr<Store>> open_existing(const std::string& path,
                                                      Options options = {});

  // Opens the existing database at path for reading only (commands that only read history):
  // SQLite's SQLITE_OPEN_READONLY, so every write through this store fails with "attempt to
  // write a readonly database" (begin_run and recover_interrupted_runs fail before they touch
  // the run lock). Never creates the database, never migrates it, never marks runs, and works
  // on a read-only file, in a read-only folder, on a full disk or a read-only file system.
  // Fails, naming path, when there is no file at path ("run", "import" create it), when the
  // schema is older than this program's (a command that writes migrates it first) or newer,
  // or when the file is not a driftwatch database.
  //
  // WAL (https://www.sqlite.org/wal.html, "Read-Only Databases"): a reader goes through the
  // -wal and -shm files beside the database, and creates them when they are missing. When the
  // -wal holds commits, the read goes through it like any reader's (even through a -shm it may
  // not write) and fails if it cannot. Otherwise the file alone holds every commit, and the
  // read goes through the pair when both are there, or when the reader owns the file (or is
  // root: SQLite gives the files it creates to the owner) and may create them, leaving them
  // behind. When neither works (another user, whose -shm would keep the owner's writer out; a
  // read-only folder; a full disk) it reads the file as immutable: no locks, nothing created.
  // A writer that starts and checkpoints during such a read can make it fail; running the
  // command again reads anew.
  static Result<std::unique_ptr<Store>> open_readonly(const std::string& path,
                                                      Options options = {});

  // Commits pending batched writes (errors are lost here: call flush() to see them).
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- runs -------------------------------------------------------------------------------
  // Records a run in status 'running' and returns its id. While a run is open, this process
  // holds a lock (file "<database>-runlock") that tells other processes the run is alive.
  // Fails on a store opened read-only, creating no lock file.
  Result<int64_t> begin_run(Time run_at, Time started_at);
  // Commits pending samples, then sets the run's status (complete or incomplete) and end.
  // When that fails (a full disk), the run is no longer this process's all the same: its row,
  // left 'running', is marked incomplete by the next begin_run or open that can.
  // Then, for each endpoint of the run that has stored many texts since its last compression
  // dictionary (200 for the first, then 16 times what the last learnt from, at most 32,000),
  // trains a new one from its newest texts (at most 2,000 or 1 MiB; a fraction of a second)
  // for the texts stored after it; and for up to 8 of the (endpoint, probe) pairs that stored
  // new texts, one of the pair's own (texts.cc says when). Training never fails the call:
  // without a new dictionary texts are compressed with the last one (or none), and a later
  // finish_run tries again. Likewise it moves the keys of the texts stored since the last run
  // ended to the recent ones, or merges those into the index of all the others once they are
  // many enough (text_keys.cc); inside transaction() it leaves them for the first run after.
  Status finish_run(int64_t run_id, Time finished_at, RunStatus status);
  // Marks every 'running' run incomplete if no process holds a run open; returns how many.
  // Fails on a store opened read-only.
  Result<int64_t> recover_interrupted_runs();
  // Runs with since <= run_at < until, oldest first. The callback returns false to stop.
  Status for_each_run(std::optional<Time> since, std::optional<Time> until,
                      const std::function<bool(const RunInfo&)>& callback);
  // The run with the latest run_at (of the given status, when set); nullopt when none.
  Result<std::optional<RunInfo>> last_run(std::optional<RunStatus> status = std::nullopt);

  // --- probes and endpoints ----------------------------------------------------------------
  // Inserts each (id, version) or updates its set, category, lang, control and expect. Old
  // versions stay: their samples refer to them.
  Status upsert_probes(const std::vector<probes::Probe>& probes);
  Status upsert_endpoint(std::string_view name, std::string_view kind, std::string_view base_url,
                         std::string_view model);
  // Every stored probe version (id, version, set, category, lang, prompt, control, expect; no
  // location or samples), by id then version. What reclassifying old samples needs: their
  // prompt as it was. The callback returns false to stop. Fails when the store fails or a
  // stored expect is not a JSON array of strings.
  Status for_each_probe(const std::function<bool(const probes::Probe&)>& callback);

  // --- samples (batched) ---------------------------------------------------------------------
  // Stores one sample and returns its id. Texts are stored once per distinct content. The
  // write joins the open batch, committed every Options::batch_size batched writes, on
  // flush(), or before any non-batched write; a sample is always written whole or not at all.
  // Fails when run, endpoint or probe version is unknown, the key is already stored, or the
  // classification is not one set_classification takes. classification, when given, is
  // stored with it, as set_classification would (one write instead of two).
  Result<int64_t> add_sample(const SampleKey& key, const providers::Sample& sample,
                             const Classification* classification = nullptr,
                             const Explanation* explanation = nullptr);
  // Sets (or replaces) a sample's classification; batched like add_sample. Fails for an
  // unknown sample id or a verdict outside the five. explanation, when given, is kept too
  // (otherwise the sample's is cleared: it belonged to the verdict replaced).
  Status set_classification(int64_t sample_id, const Classification& c,
                            const Explanation* explanation = nullptr);
  // Commits the open batch. Inside a Transaction it does nothing: the transaction decides.
  Status flush();

  // The rows for_each_sample gave from memory since the store was opened: those of the run
  // it is storing or stored last, which it keeps until the next begins (see recent_rows_).
  // For tests and benchmarks, which tell the two ways of reading apart by it.
  int64_t rows_from_memory() const { return rows_from_memory_; }
  // A run of more samples than this is read back from the file (its rows are not kept).
  static constexpr size_t kRecentRows = 10000;

  // Gives back memory kept only for speed: this connection's page cache, the statements kept
  // for reuse and the prepared compression dictionaries and contexts (prepared again when
  // next needed, from the database). For a daemon between jobs, hours apart; never loses data.
  void release_memory();

  // The compression dictionaries held in memory now: at most kDictionariesHeld, or the
  // endpoints' current ones and one more when they are more (an endpoint's takes 0.45 MB once
  // it has written, a probe's its 8-16 KiB and 36 KB more once it has read). Bounded however
  // many a long import or run trains.
  static constexpr size_t kDictionariesHeld = 32;
  size_t dictionaries_held() const { return dictionaries_.size(); }

  // Streams matching committed (or this connection's own pending) samples in time order:
  // by run_at, run, endpoint, probe, version, seq. The row passed to the callback is only
  // valid during the call; copy what you keep. The callback returns false to stop, and may
  // call back into the store (classify what it reads, for example). Memory: one run's rows at
  // a time, their texts as stored (but with SampleFilter::wants_text, whose response texts are
  // read when wanted), put in order in memory up to Options::sort_memory (a larger
  // run is ordered by SQLite). Texts are decompressed as rows are passed on, one at a time. An
  // error stops the iteration at once (rows held to be put in order are not passed on); a text
  // that cannot be decompressed (a damaged file) is one, naming the text. The run this store
  // is storing or stored last is read from memory when nothing can have changed it since
  // (recent_rows_, rows_from_memory()): the same rows.
  Status for_each_sample(const SampleFilter& filter,
                         const std::function<bool(const SampleRow&)>& callback);

  // --- response features (derived data, kept so it is computed once per text) -------------
  // Stores data derived from the response text with this hash by a pure function, named by
  // `version` (what it depends on): replaces what the text had, so a text holds the features
  // of one version at a time. The store never looks inside `data`. Batched like add_sample.
  // Fails when no response text has this hash.
  Status put_features(std::string_view response_hash, std::string_view version,
                      std::string_view data);
  // Drops the features of texts whose newest use (by sample id) is no later than run's last
  // sample: of the texts run used when its_texts_only (cheap enough for every run), else of
  // every text. Features are worth their bytes only while detection reads them (its last
  // runs); a text read again later gets them anew.
  Status drop_features(int64_t run, bool its_texts_only);
  // The response text with this hash; nullopt when there is none. Fails, naming the text, when
  // its stored form cannot be decompressed (a damaged file).
  Result<std::optional<std::string>> response_text(std::string_view hash);

  // --- the judge's opinions -----------------------------------------------------------------
  // Streams samples waiting for the judge, newest first (by id, descending), without sorting.
  // The callback returns false to stop; it must not write to the store (collect, then write).
  Status for_each_unjudged(const UnjudgedFilter& filter,
                           const std::function<bool(const Unjudged&)>& callback);
  // Stores a judgement of the text with this hash and returns its id; when one of the same
  // (text, model, prompt version) is already stored, returns that one's id and changes
  // nothing. Batched like add_sample.
  Result<int64_t> add_judgement(std::string_view response_hash, const Judgement& judgement);
  // Makes the judgement apply to the sample (replacing any other). Batched like add_sample.
  Status link_judgement(int64_t sample_id, int64_t judgement_id);

  // --- events --------------------------------------------------------------------------------
  Result<int64_t> insert_event(const Event& e);
  // Rewrites the event with e.id (every field but id). Fails when there is no such event.
  Status update_event(const Event& e);
  Status for_each_event(const EventFilter& filter,
                        const std::function<bool(const Event&)>& callback);
  // Deletes every event, or those detected at or after detected_since (detection recomputes
  // them from the history); returns how many.
  Result<int64_t> delete_all_events(std::optional<Time> detected_since = std::nullopt);

  // --- run summaries (drift detection's counts per run, kept so old samples are not read) ----
  // Runs as for_each_run does, without counting their samples (RunInfo::samples is 0): cheap
  // however long the history. The callback returns false to stop.
  Status list_runs(const RunQuery& query, const std::function<bool(const RunInfo&)>& callback);
  // The integer of a probe version, given it on first use (a batched write, like add_sample).
  Result<int64_t> probe_key(std::string_view probe_id, std::string_view probe_version);
  // Every probe key, with the probe version's current control flag (false when the version is
  // not in `probes`). The callback returns false to stop.
  Status for_each_probe_key(const std::function<bool(const ProbeKey&)>& callback);
  // Replaces every row stored for run_id with these (RunCells::run_at is ignored; an empty
  // list only deletes), whole or not at all. Batched like add_sample. Fails when rows are given
  // for an unknown run. A change to the verdict, narrative flag, expect coverage or judgement
  // of one of the run's samples deletes its rows (a trigger in the schema); removing old
  // samples keeps them.
  Status put_run_cells(int64_t run_id, const std::vector<RunCells>& rows);
  // Streams the rows of runs with since <= run_at < until, by run_at, run, endpoint. The row is
  // only valid during the call (copy() what you keep); the callback returns false to stop and
  // may call back into the store (read samples, for example).
  Status for_each_run_cells(std::optional<Time> since, std::optional<Time> until,
                            const std::function<bool(const RunCellsView&)>& callback);
  // The texts' part of run summaries (what detection keeps of the answers of its last runs,
  // far larger than the counts): the same shape, in a table of its own so that reading counts
  // never reads texts. put_run_texts is put_run_cells for it, and the same trigger drops a
  // run's rows. run_texts streams the rows of one run in endpoint order (one prepared
  // statement for every call: its callback may use the store but not call run_texts), with the
  // size of their signatures but not their bytes: run_signatures reads those of one row, for
  // the few rows whose signatures a detection compares (each is most of its row's bytes).
  // run_signatures gives nullopt when the row is gone or of another version.
  Status put_run_texts(int64_t run_id, const std::vector<RunCells>& rows);
  Status run_texts(int64_t run_id, const std::function<bool(const RunCellsView&)>& callback);
  Result<std::optional<std::string>> run_signatures(int64_t run_id, std::string_view endpoint,
                                                    int64_t version);
  // Deletes the texts' part of the summaries of runs with run_at before `before` (they have
  // left the window detection reads texts of). Batched like add_sample; writes nothing when
  // there is nothing to delete.
  Status drop_run_texts(Time before);
  // Summaries of whole UTC days of old runs (drift/day_blocks.h), in the encoding named by
  // `version`, by day ("YYYY-MM-DD"): derived from the day's runs' run_cells, and deleted by
  // the schema when one of those rows changes or a run is added to the day. put_day_block
  // replaces the day's block (batched like add_sample); for_each_day_block streams the blocks
  // of the days from <= day < until in day order (the callback may use the store).
  Status put_day_block(const DayBlock& block);
  Status drop_day_block(std::string_view day);  // batched like put_day_block
  Status for_each_day_block(std::string_view from, std::string_view until,
                            const std::function<bool(const DayBlock&)>& callback);
  // The same of whole weeks, by their Monday (DayBlock::day): made of the days' blocks, and
  // deleted by the schema with any of them.
  Status put_week_block(const DayBlock& block);
  Status drop_week_block(std::string_view week);
  Status for_each_week_block(std::string_view from, std::string_view until,
                             const std::function<bool(const DayBlock&)>& callback);

  // --- retention ---------------------------------------------------------------------------
  // Removes, in one transaction, the samples of the oldest runs with run_at before `before`,
  // whole runs of about `limit` samples (more when a run is larger), then each text that no
  // remaining sample uses (as answer or error body), with its features and judgements. Runs,
  // events, run summaries, probes and dictionaries stay. `samples` below `limit` means nothing
  // older is left. Reads first and writes nothing when nothing is older, so a daemon may call
  // it after every run without writing while idle. A direct write (commits the open batch
  // first). Fails on a store opened read-only.
  Result<Removed> remove_samples_before(Time before, int limit = 500);

  // --- fleet (monitor/fleet pushes runs to a central PostgreSQL; fleet_marks.cc) ------------
  // The run's globally unique id: a random UUID (version 4, lower-case 8-4-4-4-12), made with
  // the run (a trigger of the schema), or for a run from before schema 8 on the first ask (a
  // direct write, like begin_run); the same ever after. Fails for an unknown run, on a store
  // opened read-only when the run has none yet, or when the system gives no randomness.
  Result<std::string> run_uuid(int64_t run_id);
  // Records that the run reached the central database at `at` (giving it a UUID first when it
  // has none). Call only after the central COMMIT returned: a run marked pushed is never sent
  // again. Marking again moves pushed_at. A direct write. Fails for an unknown run.
  Status mark_pushed(int64_t run_id, Time at);
  // Finished runs not yet marked pushed: incomplete ones, and complete ones once detection has
  // decided them (their run summary is stored, with their events, or a later run's is), never
  // running ones; oldest run_at (then id) first; RunInfo::samples is 0 (not counted). The
  // callback returns false to stop; it must not write to the store (collect, then push and
  // mark).
  Status for_each_unpushed(const std::function<bool(const RunInfo&)>& callback);
  // How many runs for_each_unpushed would yield, and when the last push was.
  Result<PushState> push_state();
  // The run with this id (RunInfo::samples 0: not counted); nullopt when there is none. One
  // lookup, so pushing a long backlog run by run stays linear.
  Result<std::optional<RunInfo>> find_run(int64_t run_id);

  // --- all or nothing ----------------------------------------------------------------------
  // Opens a transaction covering every write until commit (imports that must not half
  // succeed). Batched writes inside it are not committed on their own. The Store must outlive
  // it; at most one at a time.
  Result<std::unique_ptr<Transaction>> transaction();

 private:
  friend class Transaction;
  Store(std::unique_ptr<Db> db, Options options);

  Status before_direct_write();  // commits the open batch so commits keep the calls' order
  Status open_batch();           // joins or opens the batch for a batched write
  Status count_batched_write();  // commits when the batch is full
  // The day or week blocks' table (run_cells.cc).
  enum class BlockTable { days, weeks };
  Status put_block(BlockTable table, const DayBlock& block);
  Status drop_block(BlockTable table, std::string_view day);
  Status for_each_block(BlockTable table, std::string_view from, std::string_view until,
                        const std::function<bool(const DayBlock&)>& callback);
  // keys.cc: ids of repeated values, created on first use (inside the caller's batch).
  Result<int64_t> intern(std::string_view value);  // strings.id
  Result<int64_t> intern_uncached(std::string_view value);
  struct ClassificationIds;  // samples.cc: a classification's stored columns
  Result<ClassificationIds> classification_ids(const Classification& c,
                                               const Explanation* explanation);
  Result<std::optional<int64_t>> intern_or_null(std::string_view value);  // "" -> NULL
  Result<std::optional<int64_t>> find_string(std::string_view value);      // never inserts
  Result<std::optional<int64_t>> find_endpoint_key(std::string_view name);
  Result<int64_t> endpoint_key(std::string_view name);  // fails for an endpoint not stored
  Result<int64_t> sample_probe_key(std::string_view probe_id, std::string_view version);
  // texts.cc: texts stored once each, compressed with the dictionary of the probe's answers
  // from the endpoint, else the endpoint's (probe: nullopt for error bodies). An answer
  // (`answer`) is also kept in memory for the run's detection (recent_texts_).
  struct TextStored {
    int64_t id = 0;              // texts.id
    std::array<char, 32> hash;   // its SHA-256
    bool added = false;          // stored now, not found stored already
  };
  Result<TextStored> store_text(std::string_view text, int64_t endpoint_key,
                                std::optional<int64_t> probe_key, bool answer);
  // text_keys.cc: texts by hash (schema 15: the keys of new texts kept apart, in small tables,
  // until they are many enough to merge into the others').
  Result<std::optional<int64_t>> find_text(std::string_view hash);  // by the 32-byte SHA-256
  Result<std::optional<int64_t>> find_text_hex(std::string_view hash_hex);
  Status merge_text_keys_if_due();         // after a run: moves its keys, merges when due
  Status move_text_keys(const char* sql);  // one move, in a transaction of its own
  // Text `id` as it is kept, when its hash (32 bytes) is still `hash`; nullopt when not.
  struct StoredData {
    std::string bytes;
    bool frame = false;  // a zstd frame
    std::optional<int64_t> dict;
  };
  Result<std::optional<StoredData>> text_data(int64_t id, std::string_view hash);
  // The text of row `id` from its stored data (a zstd frame when compressed).
  Result<std::string> read_text(int64_t id, std::optional<int64_t> dict, std::string_view data,
                                bool compressed);
  Result<Dictionary*> dictionary(int64_t id);
  // The pair's newest dictionary, else the endpoint's; nullptr: none yet.
  Result<Dictionary*> current_dictionary(int64_t endpoint_key, std::optional<int64_t> probe_key);
  // For the run's endpoints and the pairs that brought new texts, when due.
  Status train_dictionaries(int64_t run_id, Time now);
  Status train_dictionary_if_due(int64_t endpoint_key, Time now);
  Status train_pair_dictionaries(Time now);
  // Decodes the rows of q (id, dict, data, compressed) until max_texts or max_bytes, leaving
  // out ids already in *seen (when given; each id read is added).
  Status read_training_texts(Statement& q, size_t max_texts, size_t max_bytes,
                             std::vector<std::string>& samples, size_t& bytes,
                             std::set<int64_t>* seen = nullptr);
  // The distinct answer texts of the pair's newest runs, up to the training bounds.
  Status read_pair_texts(int64_t endpoint_key, int64_t probe_key,
                         std::vector<std::string>& samples, size_t& bytes);
  // Stores and loads a trained dictionary; nullopt (nothing stored) when zstd cannot use it.
  Result<std::optional<int64_t>> add_dictionary(int64_t endpoint_key,
                                                std::optional<int64_t> probe_key, Time now,
                                                int64_t trained_on, int64_t last_text,
                                                std::string data);
  // Keeps a loaded dictionary, first dropping all but the endpoints' current ones when
  // kDictionariesHeld are kept already.
  Dictionary* hold_dictionary(int64_t id, std::unique_ptr<Dictionary> dictionary);
  void forget_dictionaries();  // after a rollback: ids may be given again to other data
  void forget_dictionaries_after_rollback();  // when Db::rollbacks() moved since
  Codec& codec();
  Status take_run_lock();
  void release_run_lock();
  Status write_run_end(int64_t run_id, Time finished_at, RunStatus status);  // finish_run's row

  std::unique_ptr<Db> db_;
  Options options_;
  bool read_only_ = false;  // opened by open_readonly
  std::unique_ptr<Tx> batch_;  // the open batch, if any
  int batch_writes_ = 0;
  bool in_transaction_ = false;
  std::set<int64_t> my_open_runs_;
  int run_lock_fd_ = -1;  // held (shared) while my_open_runs_ is not empty
  std::unique_ptr<Codec> codec_;  // made on first use
  std::map<int64_t, std::unique_ptr<Dictionary>> dictionaries_;  // loaded, by id
  // (endpoint key, probe key or 0 for the endpoint's own) -> its newest dictionary
  std::map<std::pair<int64_t, int64_t>, std::optional<int64_t>> current_dictionary_;
  uint64_t dictionaries_rollbacks_ = 0;  // Db::rollbacks() when the two maps above were valid
  // Pairs (endpoint key, probe key) that stored new texts since their dictionaries were last
  // looked at (finish_run).
  std::set<std::pair<int64_t, int64_t>> new_text_pairs_;
  // The answers store_text() was given since the last run began, by texts.id, each with its
  // hash: a detection reads its run's answers right after the run stored them, and reading
  // them back meant a lookup and a decompression each. Up to kRecentTextBytes of them, their
  // entries counted (a run of a thousand answers of a kilobyte); emptied by begin_run() and
  // release_memory(). Read only where the row's own hash is at hand (for_each_sample), so a
  // text rolled back with its batch, whose id another text took, is never given for it; a
  // text another connection deleted after its row was read is given as the row named it.
  static constexpr size_t kRecentTextBytes = size_t{2} << 20;
  static constexpr size_t kRecentTextEntry = 96;  // a map node and the hash, roughly
  struct RecentText {
    std::array<char, 32> hash;
    std::string text;
  };
  std::unordered_map<int64_t, RecentText> recent_texts_;
  size_t recent_text_bytes_ = 0;
  void remember_text(int64_t id, std::string_view hash, std::string_view text);
  void forget_texts();
  const std::string* recent_text(int64_t id, std::string_view hash) const;
  // recent_rows.cc: the rows add_sample() stored for the run begun last, as a reader without
  // details reads them back (SampleFilter::with_details = false): a detection reads its run's
  // rows right after the run stored them, and reading them back was a fifth of a detection.
  // for_each_sample gives them for exactly that run while nothing can have changed them since:
  // no other connection (another program, or another Store in this one) committed (PRAGMA
  // data_version), this one rolled nothing back (Db::rollbacks()), and set_classification,
  // link_judgement and retention did not run (they forget them). At most kRecentRows, else
  // none; emptied by begin_run() and release_memory().
  struct RecentRow {  // the stored columns a reader without details reads, as stored
    int64_t id = 0, endpoint = 0, probe = 0;  // sample_rows.id, the endpoint and probe keys
    int seq = 0;
    std::optional<int64_t> received_at, model, fingerprint;  // seconds; strings ids
    int http_status = 0;
    int64_t latency_ms = 0;
    std::optional<int64_t> prompt_tokens, completion_tokens;
    int attempts = 0;
    std::optional<int64_t> response;  // texts.id
    std::array<char, 32> hash{};       // the response's, when there is one
    bool new_text = false;             // the response was stored by this run
    std::optional<int64_t> verdict;    // the rules' verdict number; none until classified
    bool narrative = false;
    std::optional<double> coverage;
  };
  struct RecentRows {
    int64_t run = 0;  // 0: none kept
    Time run_at;
    int64_t data_version = 0;  // PRAGMA data_version at begin_run
    uint64_t rollbacks = 0;    // Db::rollbacks() at begin_run
    bool features_written = false;  // put_features since: any text may have features
    std::vector<RecentRow> rows;
  };
  std::unique_ptr<RecentRows> recent_rows_;
  int64_t rows_from_memory_ = 0;
  Result<int64_t> data_version();  // PRAGMA data_version: moves when another connection commits
  void keep_rows(int64_t run, Time run_at, int64_t data_version);
  void remember_row(RecentRow row);
  void forget_rows() { recent_rows_.reset(); }
  // The kept rows when f reads exactly them (its run, nothing else, without details), in the
  // order add_sample stored them; nullptr when it does not or they may have changed.
  Result<const RecentRows*> recent_rows_for(const SampleFilter& f);
  // sample_reads.cc: fills row (but for its texts) as read_sample() there does from the stored
  // columns; false when its probe version or endpoint is not stored. features: its features'
  // version id, if asked.
  Result<bool> recent_sample(const RecentRow& r, KeyNames& names,
                             std::optional<int64_t> features, SampleRow& row);
  std::map<int64_t, int64_t> training_skipped_;  // endpoint key -> newest text id then
  // The last count of an endpoint's texts since its dictionary: texts with id > after, as
  // counted when `newest` was the newest text.
  struct TextCount {
    int64_t after = 0, newest = 0, count = 0;
  };
  std::map<int64_t, TextCount> text_counts_;  // endpoint key -> its last count
  // Short strings' ids (models, finish reasons, signals, versions: a sample names nine),
  // valid while no transaction has rolled back since (Db::rollbacks()).
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> interned_;
  uint64_t interned_rollbacks_ = 0;
};

// All writes between Store::transaction() and commit() land together or not at all.
// Destroying it without commit() rolls everything back.
class Transaction {
 public:
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Status commit();

 private:
  friend class Store;
  Transaction(Store& store, std::unique_ptr<Tx> tx);
  Store& store_;
  std::unique_ptr<Tx> tx_;
  std::set<int64_t> runs_before_;  // restored on rollback: runs begun inside never existed
};

}  // namespace dw::store
