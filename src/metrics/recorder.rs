//! The recorder: per-request records and aggregate counters, updated by the replica and the
//! simulation loop as events happen.

use serde::Serialize;

use crate::stats::LogHistogram;
use crate::time::SimTime;

/// Why a request was rejected without being served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Prompt + output tokens exceed the model's (or the configured) max_model_len.
    ExceedsMaxModelLen,
    /// Prompt + output tokens exceed what the replica's KV cache can ever hold.
    ExceedsKvCapacity,
}

impl RejectReason {
    /// Snake-case name as written in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::ExceedsMaxModelLen => "exceeds_max_model_len",
            RejectReason::ExceedsKvCapacity => "exceeds_kv_capacity",
        }
    }
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not arrived yet (or never, when a horizon cut the run).
    Pending,
    /// Arrived and not yet finished.
    InFlight,
    /// All output tokens produced.
    Completed,
    /// Refused at arrival.
    Rejected(RejectReason),
    /// Sent to the overflow API (its timestamps are the API's published typical latency, when
    /// it publishes one).
    Spilled,
}

/// Timestamps and counters of one request.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    /// Arrival time.
    pub arrival: SimTime,
    /// Replica it was routed to.
    pub replica: u32,
    /// The pool of that replica (0 in a fleet of one pool).
    pub pool: u32,
    /// First time any of its tokens were scheduled.
    pub scheduled: Option<SimTime>,
    /// First output token.
    pub first_token: Option<SimTime>,
    /// Latest output token.
    pub last_token: Option<SimTime>,
    /// When the last token was produced.
    pub finish: Option<SimTime>,
    /// Output tokens produced.
    pub generated: u32,
    /// Times it was preempted (and its KV recomputed).
    pub preemptions: u32,
    /// Prompt tokens found in the prefix cache when it was first scheduled.
    pub cached_tokens: u32,
    /// Status.
    pub status: Status,
}

impl RequestRecord {
    fn new(arrival: SimTime) -> RequestRecord {
        RequestRecord {
            arrival,
            replica: 0,
            pool: 0,
            scheduled: None,
            first_token: None,
            last_token: None,
            finish: None,
            generated: 0,
            preemptions: 0,
            cached_tokens: 0,
            status: Status::Pending,
        }
    }
}

/// Collects what happens during a simulation.
#[derive(Clone, Debug)]
pub struct Recorder {
    /// One record per request, indexed by request id less `base`.
    pub records: Vec<RequestRecord>,
    /// Id of `records[0]`: 0, except in a streamed run, which retires finished records.
    base: usize,
    /// Inter-token gaps, ns: one sample per output token after a request's first.
    pub itl: LogHistogram,
    /// Events processed.
    pub events: u64,
    /// Requests arrived and not finished or rejected.
    in_system: u64,
    /// Sum of their arrival times, ns.
    in_system_arrivals_ns: u128,
    /// Integral of `in_system` over time, request-nanoseconds: each request adds its time in
    /// the system when it leaves (and those still in it at [`Recorder::close`]), so the order in
    /// which departures are recorded does not matter.
    in_system_area: u128,
}

impl Recorder {
    /// A recorder for requests with these arrival times.
    pub fn new(arrivals: impl Iterator<Item = SimTime>) -> Recorder {
        Recorder {
            records: arrivals.map(RequestRecord::new).collect(),
            base: 0,
            itl: LogHistogram::new(),
            events: 0,
            in_system: 0,
            in_system_arrivals_ns: 0,
            in_system_area: 0,
        }
    }

    fn rec(&mut self, req: usize) -> &mut RequestRecord {
        &mut self.records[req - self.base]
    }

    /// Id of the first record kept (0 unless finished records were retired).
    pub fn base(&self) -> usize {
        self.base
    }

    /// Streaming: a record for the next request id, which arrives (at the earliest) at
    /// `arrival`.
    pub fn open(&mut self, arrival: SimTime) -> usize {
        self.records.push(RequestRecord::new(arrival));
        self.base + self.records.len() - 1
    }

    /// Streaming: drops the first `n` records (the caller has read them).
    pub fn retire(&mut self, n: usize) {
        self.records.drain(..n);
        self.base += n;
    }

    fn enter(&mut self, now: SimTime) {
        self.in_system += 1;
        self.in_system_arrivals_ns += now.as_nanos() as u128;
    }

    /// Request `req` leaves the system at `now`.
    fn leave(&mut self, req: usize, now: SimTime) {
        let arrival = self.rec(req).arrival;
        self.in_system -= 1;
        self.in_system_arrivals_ns -= arrival.as_nanos() as u128;
        self.in_system_area += now.saturating_sub(arrival).as_nanos() as u128;
    }

    /// Request `req` arrived at `now` and went to `replica`.
    pub fn arrived(&mut self, req: usize, replica: u32, now: SimTime) {
        self.enter(now);
        let r = self.rec(req);
        r.arrival = now;
        r.replica = replica;
        r.status = Status::InFlight;
    }

    /// Request `req`, which arrived earlier, was sent to `replica` (a fleet that had no serving
    /// replica when it arrived, or took it back from an interrupted one).
    pub fn routed(&mut self, req: usize, replica: u32, pool: u32) {
        let r = self.rec(req);
        r.replica = replica;
        r.pool = pool;
    }

    /// Request `req` went to the overflow API at `now`; with the API's typical latency known,
    /// its first token came at `first_token` and its last at `finish`.
    pub fn spilled(&mut self, req: usize, now: SimTime, latency: Option<(SimTime, SimTime)>) {
        self.leave(req, now);
        let r = self.rec(req);
        r.replica = u32::MAX;
        r.status = Status::Spilled;
        if let Some((first, finish)) = latency {
            r.first_token = Some(first);
            r.last_token = Some(finish);
            r.finish = Some(finish);
        }
    }

    /// Request `req` was refused at arrival.
    pub fn rejected(&mut self, req: usize, now: SimTime, why: RejectReason) {
        self.leave(req, now);
        self.rec(req).status = Status::Rejected(why);
    }

    /// Request `req` had tokens scheduled at `now`, with `cached_tokens` of its prompt found in
    /// the prefix cache. Only the first scheduling is recorded (a preempted request is scheduled
    /// again); returns whether this was the first.
    pub fn scheduled(&mut self, req: usize, now: SimTime, cached_tokens: u32) -> bool {
        let r = self.rec(req);
        if r.scheduled.is_some() {
            return false;
        }
        r.scheduled = Some(now);
        r.cached_tokens = cached_tokens;
        true
    }

    /// Request `req` has produced `generated` tokens so far (for requests still decoding when a
    /// horizon ends the run, whose tokens the replica tracks in aggregate).
    pub fn progress(&mut self, req: usize, generated: u32) {
        self.rec(req).generated = generated;
    }

    /// Request `req` produced one token at `now` outside a batch-wide decode (the token that ends
    /// a prefill). Returns the total generated so far.
    pub fn token(&mut self, req: usize, now: SimTime) -> u32 {
        let r = &mut self.records[req - self.base];
        if r.first_token.is_none() {
            r.first_token = Some(now);
        } else if let Some(prev) = r.last_token {
            self.itl.add(now.saturating_sub(prev).as_nanos(), 1);
        }
        r.last_token = Some(now);
        r.generated += 1;
        r.generated
    }

    /// A step lasting `gap_ns` gave one decode token to each of `count` sequences, each of
    /// which had its previous token when the step began.
    pub fn decode_batch(&mut self, gap_ns: u64, count: u32) {
        self.itl.add(gap_ns, count as u64);
    }

    /// Request `req` was preempted at `now`; `generated` tokens survive (they are recomputed as
    /// prompt), and its latest token is the one `last_token` says.
    pub fn preempted(&mut self, req: usize, generated: u32, last_token: SimTime) {
        let r = self.rec(req);
        r.preemptions += 1;
        r.generated = generated;
        if generated > 0 {
            r.last_token = Some(last_token);
        }
    }

    /// Request `req` produced its last token at `now`, `output` tokens in all.
    pub fn completed(&mut self, req: usize, now: SimTime, output: u32) {
        self.leave(req, now);
        let r = self.rec(req);
        if r.first_token.is_none() {
            r.first_token = Some(now);
        }
        r.last_token = Some(now);
        r.finish = Some(now);
        r.generated = output;
        r.status = Status::Completed;
    }

    /// Closes the time integral at `end`.
    pub fn close(&mut self, end: SimTime) {
        // Those still in the system count up to `end` (and, should it be closed again, from it).
        let held_to_end = self.in_system as u128 * end.as_nanos() as u128;
        self.in_system_area += held_to_end - self.in_system_arrivals_ns;
        self.in_system_arrivals_ns = held_to_end;
    }

    /// Time-average number of requests in the system (arrived, not finished or rejected) over
    /// `[0, end]`; call after [`Recorder::close`].
    pub fn mean_in_system(&self, end: SimTime) -> f64 {
        if end.as_nanos() == 0 {
            return 0.0;
        }
        self.in_system_area as f64 / end.as_nanos() as f64
    }
}
