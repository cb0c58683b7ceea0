//! `cargo xtask test`: everything CI checks, installing what it needs first.
//!
//! Steps (each must pass): toolchain components and targets, `cargo fmt --check`,
//! `cargo clippy -D warnings`, docs with `-D warnings`, host tests (debug, and release
//! with every host feature), the examples of `conkit` (each run, its output checked
//! and compared with its Python original, its length held to 1.3x the Python's; the
//! table is [`EXAMPLES`]), `no_std` builds for the firmware and wasm targets, the
//! firmware run in QEMU, the loom models, the loom mutants (each must be caught), miri
//! on `conkit-core`, ThreadSanitizer on `conkit`'s in-process tests, and the wasm demo
//! in headless Chromium.
//!
//! `--quick` skips the slow proof steps; `--only NAME[,NAME…]` runs only the steps whose
//! name contains one of the given words (e.g. `--only loom,miri`; the toolchain setup
//! always runs).

use std::process::Command;
use std::time::Instant;

use crate::examples::{Compare, Example};
use crate::util::{cargo, ensure_components, ensure_targets, root, run, step, Res};

/// The `no_std` targets `conkit-core` must build for, with the features each needs.
pub const NO_STD_TARGETS: &[(&str, &str)] = &[
    ("thumbv6m-none-eabi", ""),
    ("thumbv6m-none-eabi", "portable-atomic,async"),
    ("thumbv7em-none-eabihf", "async"),
    ("riscv32imac-unknown-none-elf", "async"),
    ("wasm32-unknown-unknown", "async"),
];

/// The mutants: deliberately broken variants of `conkit-core`, each selected by
/// `cfg(conkit_mutant = "NAME")` (set by `core/build.rs` from the `CONKIT_MUTANT`
/// environment variable; see the `conkit_mutant` spots in `core/src`), with the
/// loom test binary (`core/tests/NAME.rs`) and the test name filter of the model that
/// must catch it (`None`: every model of the binary). The step builds each mutant
/// under loom and fails if its model passes: a model that no longer catches the bug
/// it was written for is a model that proves less than it claims. Add a row with each
/// new mutant.
pub const MUTANTS: &[(&str, &str, Option<&str>)] = &[
    // A notify of `Waiters` ignores the `TASKS` bit: a task parked on the primitive
    // itself is not woken by a thread's change (the issue #14 bug).
    (
        "waiters_tasks_not_woken",
        "loom_async",
        Some("waiters_thread_notify_wakes_a_parked_task"),
    ),
    // A task awaiting `RingQueue::get_async`/`put_async` does not count itself in
    // `sleeping_getters`/`sleeping_putters`: a thread's plain put (get) skips the notify.
    (
        "ring_queue_async_not_announced",
        "loom_async",
        Some("ring_queue_thread_put_wakes_a_parked_getter"),
    ),
    // The MPMC ring's notify skip counts sleeping threads only: a task parked in
    // `pop_async`/`push_async` is not woken by a thread's plain `push`/`pop`.
    (
        "mpmc_tasks_not_woken",
        "loom_async",
        Some("mpmc_thread_push_wakes_a_parked_popper"),
    ),
    // A task done waiting forgets its slot without the table's critical section even
    // while the `TASKS` bit is set (no notifier is on its way): its waker stays parked.
    (
        "waiters_forget_while_tasks",
        "loom_async",
        Some("waiters_ready_without_notify_leaves_the_table"),
    ),
    // The task's half of the `TASKS` Dekker pair without its fence (`or_then_fence`,
    // whose x86 form is one locked instruction): its last look may miss the change
    // while the notifier's look misses the bit.
    (
        "or_then_fence_no_fence",
        "loom_async",
        Some("waiters_thread_notify_wakes_a_parked_task"),
    ),
    // A task parking behind a `TASKS` bit that is set already issues no fence between
    // its registration and its last look (`Waiters::park_then_look`'s fence, or the
    // fence half of `add_then_fence`, by which `RingQueue`'s async forms count the
    // task): their looks, which skip the ring's own "looks empty" fence, may miss a
    // thread's put whose notify misses the registration.
    (
        "waiters_park_unfenced",
        "loom_async",
        Some("ring_queue_thread_put_wakes_a_getter_parked_behind_a_set_bit"),
    ),
    // A notify that finds no task parked clears the (sticky) `TASKS` bit and does not
    // look again: a task parking meanwhile read the bit set, did not set it, and stays
    // parked behind the clear bit.
    (
        "waiters_clear_without_second_look",
        "loom_async",
        Some("waiters_stale_bit_cleared_while_a_task_parks"),
    ),
    // A notify that finds a task in the key's fast cell does not look at the table:
    // a second task parked on the key (in the table) is not woken.
    (
        "fast_cell_hides_table",
        "loom_async",
        Some("waiters_notify_wakes_cell_and_table_tasks"),
    ),
    // A contended `Lock` release wakes sleeping threads only: a parked task is stranded.
    (
        "lock_tasks_not_woken",
        "loom_async",
        Some("lock_thread_release_wakes_a_parked_task"),
    ),
    // `Lock`'s owner word: a woken waiter takes the lock without the waiters bit although
    // others still sleep; its release wakes nobody and they sleep forever.
    (
        "lock_waiters_bit_dropped",
        "loom_lock",
        Some("lock_two_sleepers_both_wake"),
    ),
    // Drepper's "a waiter takes it contended": the waiters bit is no longer exact, a
    // release after a contended episode makes a wake call for nobody.
    (
        "lock_waiters_bit_sticky",
        "loom_lock",
        Some("lock_release_after_contention_makes_no_wake_call"),
    ),
    // A thread that never slept takes the lock with the waiters bit because a woken
    // waiter is still counted as a sleeper: its release is a wake call for nobody.
    (
        "lock_barger_keeps_waiters",
        "loom_lock",
        Some("lock_barger_that_never_slept_makes_no_wake_call"),
    ),
    // A timed acquisition that consumed a wake-up gives up without passing it on: a
    // sleeper stays asleep while the lock is free.
    (
        "lock_give_up_keeps_wake",
        "loom_lock",
        Some("lock_timed_waiter_gives_up_behind_a_barger"),
    ),
    // A dead owner is replaced by a plain store instead of a compare-and-swap: two
    // waiters take over at once.
    (
        "lock_takeover_blind",
        "loom_lock",
        Some("lock_dead_owner_is_replaced_once"),
    ),
    // `Waiters::leave` collects `MORE` but does not wake everyone: the notifies
    // skipped while a wake-up was in flight are lost.
    (
        "waiters_no_more_relay",
        "loom_waiters",
        Some("notify_one_skipped_while_a_wake_is_in_flight_is_relayed"),
    ),
    // A waiter about to sleep ignores `PENDING` (a wake-up on its way that found nobody
    // asleep yet) and sleeps past it.
    (
        "waiters_sleep_past_pending",
        "loom_waiters",
        Some("notify_one_skipped_while_a_wake_is_in_flight_is_relayed"),
    ),
    // `leave` decrements the count but keeps `PENDING`/`MORE`: later waiters never
    // sleep again and later notifies are never sent (a livelock).
    (
        "waiters_leave_keeps_flags",
        "loom_waiters",
        Some("one_consumer_waits_twice"),
    ),
    // A process-shared strategy's `notify_one` wakes one sleeper, as between threads:
    // a sleeper woken alone that dies before it runs never collects `PENDING`, later
    // `notify_one`s only set `MORE`, the live sleeper sleeps forever.
    (
        "waiters_shared_wake_one",
        "loom_waiters",
        Some("shared_woken_consumer_dies_the_other_still_gets_a_token"),
    ),
    // Between processes a waiter probes its peers only after a sleep slice that passed
    // without a wake-up (the rule before issue #11's RingQueue fix): a getter behind a
    // dead put whose every sleep is ended by a wake-up never probes and waits for good.
    (
        "waiters_probe_only_unwoken",
        "loom_mpmc",
        Some("ring_queue_get_behind_a_dead_put_probes_though_every_sleep_is_woken"),
    ),
    // The last look after a deadline that passed outside a sleep (before the first
    // slice, in slow looks) does not probe: a get gives up with the dead put unnamed.
    (
        "waiters_deadline_without_probe",
        "loom_mpmc",
        Some("ring_queue_get_until_past_its_deadline_probes_the_dead_put"),
    ),
    // The SPSC producer publishes `tail` with `Relaxed`: the consumer may read the
    // slot before the item's write (a data race on the slot).
    (
        "spsc_tail_relaxed",
        "loom_spsc",
        Some("try_ops_capacity_1_two_items_in_order"),
    ),
    // The SPSC consumer frees slots with a `Relaxed` `head`: the producer may
    // overwrite a slot the consumer is still reading.
    (
        "spsc_head_relaxed",
        "loom_spsc",
        Some("try_ops_capacity_2_three_items_wrap"),
    ),
    // The byte ring's producer publishes `tail` with `Relaxed`: the consumer may read a
    // frame's header and bytes before they are written.
    (
        "byte_ring_tail_relaxed",
        "loom_byte_ring",
        Some("full_ring_reuses_released_space"),
    ),
    // The byte ring's consumer releases frames with a `Relaxed` `head`: the producer may
    // overwrite (a padding frame, a wrapped message) bytes still being read.
    (
        "byte_ring_head_relaxed",
        "loom_byte_ring",
        Some("messages_wrap_with_padding_in_order"),
    ),
    // The byte ring's producer does not publish its deferred commits when it finds the
    // ring full: the consumer never sees them while the producer waits for room.
    (
        "byte_ring_no_flush_when_full",
        "loom_byte_ring",
        Some("deferred_publications_happen_when_a_side_would_wait"),
    ),
    // The byte ring's consumer does not publish its deferred releases when it finds the
    // ring empty: the producer never sees the room while the consumer waits.
    (
        "byte_ring_no_flush_when_empty",
        "loom_byte_ring",
        Some("deferred_publications_happen_when_a_side_would_wait"),
    ),
    // A blocked MPMC push (between processes) frees a push reservation at `tail`
    // without asking whether its reserver lives: a live producer between its
    // reservation and its claim loses it.
    (
        "mpmc_clear_live_reservation",
        "loom_mpmc",
        Some("live_slow_reserver_is_never_cleared"),
    ),
    // The probe reads `tail` before learning that the reserver is dead: a reserver
    // that claimed and died in between looks as if it never claimed, and its record
    // (the only name of the dead push) is erased.
    (
        "mpmc_index_before_death",
        "loom_mpmc",
        Some("dead_claimant_is_not_taken_for_a_dead_reserver"),
    ),
    // A reservation whose reserver died before its claim is never freed: the position
    // is held for good.
    (
        "mpmc_dead_reservation_kept",
        "loom_mpmc",
        Some("dead_reserver_before_its_push_claim_is_cleared"),
    ),
    // The barrier records an arrival after counting it (the protocol before the
    // reservations): a party killed between the two is never identified.
    (
        "barrier_record_after_count",
        "loom_barrier_dead",
        Some("party_killed_between_count_and_record_is_buried"),
    ),
    // An arrival that finds its slot reserved reads the state word before it learns
    // that the reserver is dead: a stale word makes a dead party that had counted look
    // as if it never arrived, and its reservation is freed (the round never drains).
    (
        "barrier_word_before_death",
        "loom_barrier_dead",
        Some("party_killed_between_count_and_record_is_buried"),
    ),
    // A barrier party leaving between processes (released, broken, or a dropped
    // `wait_async` withdrawing) frees its record before it is uncounted: killed in
    // between, it is counted and never identified.
    (
        "barrier_leave_clears_first",
        "loom_barrier_dead",
        Some("withdrawer_killed_before_uncounting_is_buried"),
    ),
    // A waiter burying a dead barrier party does not look at its slot again after
    // reading the member bit: the slot, freed and taken by a new arrival meanwhile,
    // carries that arrival's bit, and the live arrival is buried.
    (
        "barrier_bury_reused_slot",
        "loom_barrier_dead",
        Some("withdrawer_killed_after_uncounting_breaks_nothing"),
    ),
    // A party leaving a filling barrier (a dropped `wait_async`) uncounts itself also
    // from a complete round whose action runs: a newcomer takes the last index again
    // and runs a second action (issue #14's withdrawal).
    (
        "barrier_withdraw_blind",
        "loom_barrier_withdraw",
        Some("cancel_racing_the_last_arrival_withdraws_or_passes"),
    ),
    // A dropped `wait_async` breaks the round (the protocol before withdrawal).
    (
        "barrier_cancel_breaks",
        "loom_barrier_withdraw",
        Some("cancel_then_replacement_fills_the_round"),
    ),
    // The same, between processes (the protocol before member bits: a dropped
    // `wait_async` of a process-shared barrier broke the round).
    (
        "barrier_cancel_breaks",
        "loom_barrier_withdraw",
        Some("shared_cancel_then_replacement_fills_the_round"),
    ),
    // A barrier's wake-up does not move the epoch its watchers compare with their mark
    // (the async proxy of `multiprocessing::Barrier`): a watcher woken by the release
    // finds nothing changed and sleeps on; the task it watches for is never woken.
    (
        "barrier_watch_no_epoch",
        "loom_barrier_withdraw",
        Some("shared_watcher_is_woken_by_the_release_and_is_no_party"),
    ),
    // The MPMC push publishes its slot's stamp with `Relaxed`.
    (
        "mpmc_push_stamp_relaxed",
        "loom_mpmc",
        Some("capacity_1_push_two_pop_two"),
    ),
    // The MPMC pop frees its slot's stamp with `Relaxed`.
    (
        "mpmc_pop_stamp_relaxed",
        "loom_mpmc",
        Some("capacity_1_push_two_pop_two"),
    ),
    // No `SeqCst` fence before a push that looks full reads `head`: `Full` for a ring
    // that was not full at any moment of the call.
    (
        "mpmc_no_full_fence",
        "loom_mpmc",
        Some("full_only_for_a_ring_that_was_full"),
    ),
    // The mirror: no fence before a pop that looks empty reads `tail`.
    (
        "mpmc_no_empty_fence",
        "loom_mpmc",
        Some("empty_only_for_a_ring_that_was_empty"),
    ),
    // No `SeqCst` fence before a blocking push/pop looks for sleepers of the other
    // side: it can miss a sleeper that missed its item or slot (a lost wake-up).
    (
        "mpmc_no_wake_fence",
        "loom_mpmc",
        Some("blocking_pop_and_push_are_woken_by_the_other_side"),
    ),
    // A `Condvar` waiter that gives up (times out) is not recorded in the cancellation
    // map: the next `notify(1)` is spent on it and the waiter still asleep is never
    // released (CPython's `threading.Condition` race).
    (
        "condvar_cancel_not_recorded",
        "loom_condvar_fifo",
        Some("timed_out_waiter_is_skipped"),
    ),
    // The `Condvar` watcher (the async proxy's, issue #14) does not look at the mark
    // again after announcing itself as a sleeper: a notify between its first look and
    // the announcement finds no sleeper to wake, and the watcher sleeps past it.
    (
        "waiters_watch_no_recheck",
        "loom_condvar_watch",
        Some("watcher_wakes_and_notify_goes_to_the_waiter"),
    ),
    // `Event` ignores its generation: a waiter woken by `set` finds the flag cleared
    // again and sleeps on (CPython gh-57711).
    (
        "event_no_generation",
        "loom_event",
        Some("event_set_then_clear_releases_waiter"),
    ),
    // `EventFlags` without its removal history: a wait-all woken by `set` finds the
    // bits cleared again and sleeps on.
    (
        "event_flags_no_history",
        "loom_event",
        Some("flags_set_then_clear_releases_waiter"),
    ),
    // The same mutant, through a clear-on-exit waiter that consumes the bit before the
    // plain waiter present at the `set` looks.
    (
        "event_flags_no_history",
        "loom_event",
        Some("flags_consumer_and_plain_waiter_both_return"),
    ),
];

/// The examples of the `conkit` crate (`std-adapter/examples/NAME.rs`), each run by the
/// "examples" step (`cargo xtask test`, also with `--quick`; see `xtask/src/examples.rs`):
/// it must exit with status 0 within 60 s and print every `expect` line. With
/// `python: Some(mode)` its Python original `std-adapter/examples/python/NAME.py` runs
/// too, the outputs are compared (`Exact`: line for line; `Sorted`: the same lines in
/// any order, for threads; `LineCount`: the same number of lines, where which thread
/// prints which item depends on timing), and the port may be at most
/// [`LINE_RATIO`](crate::examples::LINE_RATIO) times as long as the Python
/// (non-blank, non-comment lines). An example file without a row fails the step: add a
/// row with each new example.
pub const EXAMPLES: &[Example] = &[
    // Issue #14 / seed 002 (协程): the generator producer/consumer as two tasks on one
    // thread over `queue::Queue`'s async forms; line for line the Python's output.
    Example {
        name: "asyncio_generator_producer_consumer",
        args: &[],
        expect: &[
            "[CONSUMER] Consuming 5...",
            "[PRODUCER] Consumer return: 200 OK",
        ],
        python: Some(Compare::Exact),
    },
    // Issue #14 / seed 004 (协程): `create_task` + `await` on one thread; the two
    // sleeps (scaled down by 10) overlap.
    Example {
        name: "asyncio_say_after",
        args: &[],
        expect: &["hello", "world", "finished: the sleeps overlapped"],
        python: Some(Compare::Exact),
    },
    // Issue #14 / seed 002 (多进程+协程): tasks on several threads in several processes
    // share one multiprocessing JoinableQueue (put_async / get_async / join_async).
    Example {
        name: "asyncio_processes_queue",
        args: &[],
        expect: &[
            "consumer tasks got 600 items from 12 tasks on 4 threads in 2 processes",
            "unfinished tasks: 0",
        ],
        python: None,
    },
    // Issue #14: threads and tokio tasks on the same threading Event, Semaphore and
    // Condition (each wakes the other's waiters).
    Example {
        name: "asyncio_threads_mixed",
        args: &[],
        expect: &[
            "task: woken by the thread that set the event",
            "task: consumed [0, 1, 2, 3, 4] from a producer thread",
            "pool: at most 2 of 2 permits in use by 4 tasks and 2 threads",
        ],
        python: None,
    },
    // Seed 002: Pool(4) + apply_async over 5 tasks, then close/join (issue #13).
    Example {
        name: "mp_pool_apply_async",
        args: &[],
        expect: &[
            "Waiting for all subprocesses done...",
            "All subprocesses done.",
        ],
        python: Some(Compare::LineCount),
    },
    // Seed 001 进程池: apply, apply_async with a callback in the main process, map.
    Example {
        name: "mp_pool_download",
        args: &[],
        expect: &[
            "apply: 下载完成！",
            "callback runs in: MainProcess",
            "map: [(1, \"下载完成！\"), (1, \"下载完成！\")]",
            "程序结束",
        ],
        python: Some(Compare::LineCount),
    },
    // Seed 001: subclassed Process (`Run`) and a daemon child (issue #12).
    Example {
        name: "mp_process_subclass",
        args: &[],
        expect: &[
            "现在开始下载新白娘子传奇 in Process-1",
            "现在开始下载西游记 in Process-2",
            "exit codes Some(0) Some(0)",
            "active children: [\"daemon\"]",
        ],
        python: None,
    },
    // Seed 001 守护进程: a daemon process ends with the main process, cannot have children.
    Example {
        name: "mp_daemon",
        args: &[],
        expect: &[
            "Start fun",
            "daemon: daemonic processes are not allowed to have children",
            "Main process end",
        ],
        python: Some(Compare::Exact),
    },
    // Seed 001 进程锁: ten processes print under one multiprocessing Lock (pids differ).
    Example {
        name: "mp_lock",
        args: &[],
        expect: &["hello world 0", "hello world 9"],
        python: Some(Compare::LineCount),
    },
    // Seed 001 信号量: Semaphore(4) KTV, 13 processes; at most (and at best) 4 inside.
    Example {
        name: "mp_semaphore_ktv",
        args: &[],
        expect: &["============》", "most inside at once: 4"],
        python: Some(Compare::Sorted),
    },
    // Seed 001 事件: an Event set by a child process.
    Example {
        name: "mp_event",
        args: &[],
        expect: &["False", "look here！", "give me！！"],
        python: Some(Compare::Exact),
    },
    // multiprocessing.Value: 2 processes × 100 000 under get_lock() = 200000.
    Example {
        name: "mp_value",
        args: &[],
        expect: &["200000"],
        python: Some(Compare::Exact),
    },
    // Seed 001 multiprocessing.Manager: a manager dict shared by 10 processes.
    Example {
        name: "mp_manager_dict",
        args: &[],
        expect: &["1 xiaoxiao"],
        python: Some(Compare::LineCount),
    },
    // Seed 001 Pool + Manager: 20 apply_async tasks write to one manager dict.
    Example {
        name: "mp_manager_pool_dict",
        args: &[],
        expect: &["21 [\"7\", \"xiaoxiao\"]"],
        python: Some(Compare::LineCount),
    },
    // Seed 003 分布式进程: task/result queues on a BaseManager over TCP, 2 workers.
    Example {
        name: "mp_distributed_queue",
        args: &[],
        expect: &["Try get results...", "master exit."],
        python: Some(Compare::LineCount),
    },
    // multiprocessing.shared_memory.ShareableList (the Python docs' example) and a child.
    Example {
        name: "mp_shareable_list",
        args: &[],
        expect: &["8s8sdqxxxxxx?xxxxxxxx?q", "dry ice 43", "1 6"],
        python: Some(Compare::Exact),
    },
    // Seed 001 Queue: a producer and a consumer process over multiprocessing.Queue.
    Example {
        name: "mp_queue_producer_consumer",
        args: &[],
        expect: &["主程序开始运行", "程序运行结束"],
        python: Some(Compare::LineCount),
    },
    // Seed 001 Pipe: the main process sends ten envelopes, a consumer process receives
    // until the end of file (the child holds only its receiving end).
    Example {
        name: "mp_pipe_producer_consumer",
        args: &[],
        expect: &["程序开始", "生产者开始生产", "程序结束"],
        python: Some(Compare::LineCount),
    },
    // Seed 001 JoinableQueue: producers and daemon consumers, join on the queue.
    Example {
        name: "mp_joinable_queue",
        args: &[],
        expect: &["程序运行完毕"],
        python: Some(Compare::LineCount),
    },
    // The host demo: OS threads through the core rings (`cargo xtask demo`'s host part),
    // 0.3 s per ring.
    Example {
        name: "demo",
        args: &["0.3"],
        expect: &["all checksums ok: nothing lost, nothing duplicated"],
        python: None,
    },
    // Seed 001: `queue.Queue(maxsize=10)`, two gets, `full()`, `qsize()`, drained.
    Example {
        name: "queue_fifo",
        args: &[],
        expect: &["False", "the size is : 8", "9", "haha"],
        python: Some(Compare::Exact),
    },
    // Seed 001: the same queue after ten gets.
    Example {
        name: "queue_fifo_drained",
        args: &[],
        expect: &["False", "the size is : 0", "haha"],
        python: Some(Compare::Exact),
    },
    // Seed 001's notes: LIFO, FIFO and priority order.
    Example {
        name: "queue_orders",
        args: &[],
        expect: &[
            "LifoQueue: [5, 4, 3, 2, 1]",
            "Queue: [1, 2, 3, 4, 5]",
            "1 fix the build",
        ],
        python: Some(Compare::Exact),
    },
    // Seed 001: a producer and the consumer Tom over `Queue(maxsize=5)`.
    Example {
        name: "queue_producer_consumer",
        args: &[],
        expect: &["Producer put No.316", "Tom get No.316"],
        python: Some(Compare::Sorted),
    },
    // Seed 001: two `Producer` and five `Consumer` `Thread` subclasses.
    Example {
        name: "queue_producer_consumer_classes",
        args: &[],
        expect: &["Producing200product"],
        python: Some(Compare::LineCount),
    },
    // Seed 004: ten threads drain a queue of 100 numbers.
    Example {
        name: "queue_worker_threads",
        args: &[],
        expect: &["0", "99"],
        python: Some(Compare::Sorted),
    },
    // The seeds' threading programs (issue #10), written the short way.
    // Seed 004: 100 threads deposit under a lock.
    Example {
        name: "bank_account",
        args: &[],
        expect: &["账户余额为: ￥100元"],
        python: Some(Compare::Exact),
    },
    // Seed 001: `threading.Lock()` add/subtract.
    Example {
        name: "add_subtract",
        args: &[],
        expect: &["starting from 0", "Done to 0"],
        python: Some(Compare::Exact),
    },
    // Seed 001: `RLock` re-entered (which thread sets which number is timing).
    Example {
        name: "rlock_recursion",
        args: &[],
        expect: &[],
        python: Some(Compare::LineCount),
    },
    // Seed 001: `Semaphore(2)`, six threads.
    Example {
        name: "semaphore",
        args: &[],
        expect: &["Thread 0 is running.", "Thread 5 is running."],
        python: Some(Compare::Sorted),
    },
    // Seed 001: `BoundedSemaphore(3)`, four threads.
    Example {
        name: "bounded_semaphore",
        args: &[],
        expect: &["Thread 0 is running.", "Thread 3 is running."],
        python: Some(Compare::Sorted),
    },
    // Seed 001: subclass `Thread`, override `run`.
    Example {
        name: "thread_subclass",
        args: &[],
        expect: &[
            "the args for this class is 3",
            "main thread is done!!!!!!!!!",
        ],
        python: Some(Compare::Exact),
    },
    // Seed 001: Event 吃火锅 (CPython names target threads `Thread-1 (chihuoguo)`).
    Example {
        name: "event_hot_pot",
        args: &[],
        expect: &["主线程告诉大家可以开始吃喽"],
        python: Some(Compare::LineCount),
    },
    // Seed 001: `Timer(1, hello)`.
    Example {
        name: "timer",
        args: &[],
        expect: &["hello, world"],
        python: Some(Compare::Exact),
    },
    // Seed 001: a producer and two customers on a `Condition`.
    Example {
        name: "condition_chef",
        args: &[],
        expect: &["已达到5个，不再生产"],
        python: Some(Compare::LineCount),
    },
    // Seed 001: condition案例2, producers and consumers of a random stock.
    Example {
        name: "condition_stock",
        args: &[],
        expect: &[],
        python: Some(Compare::Runs),
    },
    // `threading.Barrier(3, action)` (named in seeds 000/001).
    Example {
        name: "barrier",
        args: &[],
        expect: &["人到齐了，出发！"],
        python: Some(Compare::Exact),
    },
    // `threading.local()` (described in seed 000).
    Example {
        name: "thread_local",
        args: &[],
        expect: &[],
        python: Some(Compare::Sorted),
    }, // `multiprocessing.connection` (issue #12): the echo server and client in one
    // process; `serve`/`connect` against python3 are in std-adapter/tests/mp_connection_interop.rs.
    Example {
        name: "connection_echo",
        args: &[],
        expect: &[
            "echo: conkit speaks CPython's wire format",
            "server echoed 2 messages",
            "wrong key, client: digest sent was rejected",
            "wrong key, server: digest received was wrong",
        ],
        python: None,
    },
];

/// What `cargo xtask test --help` prints: the options and the steps' names (`--only`
/// matches any part of a name, e.g. `--only loom,miri`, `--only Chromium`).
const HELP: &str = "cargo xtask test [--quick] [--only WORD[,WORD...]]

  --quick   skip firmware, loom, loom mutants, miri, tsan and the browser
  --only    run only the steps whose name contains one of the words
            (the toolchain setup always runs)

steps, in order:
  toolchain: components and targets
  cargo fmt --check
  cargo clippy -D warnings
  cargo doc -D warnings
  host tests
  examples: run, compare with their Python originals, line counts
  no_std target builds
  firmware in QEMU                      (not with --quick)
  loom models                           (not with --quick)
  loom mutants (each must be caught)    (not with --quick)
  miri on conkit-core                   (not with --quick)
  tsan: ThreadSanitizer on conkit's in-process tests (not with --quick)
  wasm demo in headless Chromium        (not with --quick)";

/// Options of `cargo xtask test`.
struct Options {
    /// Skip the slow proof steps (loom, miri, firmware) for a quick local loop.
    quick: bool,
    /// Run only the steps whose name contains one of these words (empty: all).
    only: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Res<Self> {
        let mut opts = Options {
            quick: false,
            only: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--quick" => opts.quick = true,
                "--only" => {
                    let list = it.next().ok_or("--only needs a list of step names")?;
                    opts.only
                        .extend(list.split(',').filter(|w| !w.is_empty()).map(str::to_owned));
                }
                "--help" | "-h" => {
                    println!("{HELP}");
                    std::process::exit(0);
                }
                other => {
                    return Err(format!(
                        "unknown option `{other}` (--quick, --only A,B, --help)"
                    ))
                }
            }
        }
        Ok(opts)
    }

    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|w| name.contains(w.as_str()))
    }
}

/// Runs every check.
pub fn run_all(args: &[String]) -> Res {
    let opts = Options::parse(args)?;
    let started = Instant::now();
    let mut steps: Vec<(&str, f64)> = Vec::new();
    let mut timed = |name: &'static str, f: &dyn Fn() -> Res| -> Res {
        if name != SETUP && !opts.wants(name) {
            return Ok(());
        }
        step(name);
        let t = Instant::now();
        f().map_err(|e| format!("step `{name}` failed: {e}"))?;
        steps.push((name, t.elapsed().as_secs_f64()));
        Ok(())
    };

    timed(SETUP, &setup)?;
    timed("cargo fmt --check", &fmt)?;
    timed("cargo clippy -D warnings", &clippy)?;
    timed("cargo doc -D warnings", &doc)?;
    timed("host tests", &host_tests)?;
    timed(
        "examples: run, compare with their Python originals, line counts",
        &crate::examples::run_all,
    )?;
    timed("no_std target builds", &no_std_builds)?;
    if !opts.quick {
        timed("firmware in QEMU", &crate::firmware::run)?;
        timed("loom models", &loom)?;
        timed("loom mutants (each must be caught)", &mutants)?;
        timed("miri on conkit-core", &miri)?;
        timed("tsan: ThreadSanitizer on conkit's in-process tests", &tsan)?;
        timed("wasm demo in headless Chromium", &crate::browser::test)?;
    }

    eprintln!("\n==> summary ({:.0} s)", started.elapsed().as_secs_f64());
    for (name, secs) in &steps {
        eprintln!("    ok  {secs:7.1} s  {name}");
    }
    println!("xtask: {} passed, 0 failed", steps.len());
    Ok(())
}

/// The name of the setup step, which `--only` never skips.
const SETUP: &str = "toolchain: components and targets";

fn setup() -> Res {
    ensure_components("", &["rustfmt", "clippy"])?;
    let mut targets: Vec<&str> = NO_STD_TARGETS.iter().map(|(t, _)| *t).collect();
    targets.push("thumbv7m-none-eabi");
    targets.dedup();
    ensure_targets("", &targets)?;
    ensure_components("nightly", &["miri", "rust-src"])
}

fn fmt() -> Res {
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo()
        .current_dir(root().join("tests/firmware"))
        .args(["fmt", "--check"]))
}

fn clippy() -> Res {
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().args([
        "clippy",
        "-p",
        "conkit-core",
        "--all-targets",
        "--features",
        "async,std",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().args([
        "clippy",
        "-p",
        "conkit",
        "--all-targets",
        "--features",
        "deadlock-detection",
        "--",
        "-D",
        "warnings",
    ]))
}

fn doc() -> Res {
    run(cargo().env("RUSTDOCFLAGS", "-D warnings").args([
        "doc",
        "--workspace",
        "--no-deps",
        "--features",
        "conkit-core/async",
    ]))
}

fn host_tests() -> Res {
    run(cargo().args(["test", "--workspace"]))?;
    run(cargo().args([
        "test",
        "-p",
        "conkit-core",
        "--release",
        "--features",
        "async,std",
    ]))?;
    // The lock-order deadlock detector is off by default: test it on its own.
    run(cargo().args(["test", "-p", "conkit", "--features", "deadlock-detection"]))
}

fn no_std_builds() -> Res {
    for (target, features) in NO_STD_TARGETS {
        let mut c = cargo();
        c.args(["build", "-p", "conkit-core", "--target", target]);
        if !features.is_empty() {
            c.args(["--features", features]);
        }
        run(&mut c)?;
    }
    Ok(())
}

fn loom() -> Res {
    let tests = core_tests(true)?;
    let mut c = cargo();
    c.env("RUSTFLAGS", "--cfg loom")
        .env("LOOM_MAX_PREEMPTIONS", "2")
        .env("CARGO_TARGET_DIR", root().join("target/loom"))
        .args([
            "test",
            "-p",
            "conkit-core",
            "--release",
            "--features",
            "async",
        ]);
    for t in &tests {
        c.args(["--test", t]);
    }
    run(&mut c)
}

/// Builds and runs every row of [`MUTANTS`]; each run must fail (see there).
fn mutants() -> Res {
    let mut survived = Vec::new();
    for &(name, test, filter) in MUTANTS {
        let t = Instant::now();
        let cargo_test = || {
            let mut c = cargo();
            // `core/build.rs` turns `CONKIT_MUTANT` into the cfg, so only conkit-core
            // and the model are rebuilt per mutant (RUSTFLAGS stay the same, and loom
            // and the other dependencies are built once).
            c.env("RUSTFLAGS", "--cfg loom")
                .env("CONKIT_MUTANT", name)
                .env("LOOM_MAX_PREEMPTIONS", "2")
                // Its own target dir: the normal loom build stays as it is. Skip what only
                // slows the per-mutant rebuilds down: LTO, debug info, one codegen unit.
                .env("CARGO_TARGET_DIR", root().join("target/loom-mutants"))
                .env("CARGO_PROFILE_RELEASE_LTO", "false")
                .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
                .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
                .args([
                    "test",
                    "-p",
                    "conkit-core",
                    "--release",
                    "--features",
                    "async",
                    "--test",
                    test,
                ]);
            c
        };
        // The mutant must build: a failed build is no evidence that the model works.
        run(cargo_test().arg("--no-run"))?;
        let mut c = cargo_test();
        c.arg("--");
        if let Some(f) = filter {
            c.args([f, "--exact"]);
        }
        eprintln!("    $ {c:?}   (must fail)");
        let out = c.output().map_err(|e| format!("cannot start {c:?}: {e}"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let ran_one = !text.contains("running 0 tests");
        if out.status.success() || !ran_one {
            eprintln!("{text}");
            eprintln!(
                "    SURVIVED  {name}: {test} {} {}",
                filter.unwrap_or("(all)"),
                if ran_one { "passed" } else { "matched no test" }
            );
            survived.push(name);
            continue;
        }
        // The first line saying why (a loom deadlock, a data race, a failed assert).
        let why = text
            .lines()
            .skip_while(|l| !l.contains("panicked at"))
            .nth(1)
            .unwrap_or("(no panic message)")
            .trim();
        eprintln!(
            "    caught  {name}  by {test}::{}  ({:.0} s): {why}",
            filter.unwrap_or("*"),
            t.elapsed().as_secs_f64()
        );
    }
    if survived.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} mutant(s) survived, their loom models no longer catch them: {}",
            survived.len(),
            survived.join(", ")
        ))
    }
}

/// Extra miri scheduling seeds for the ring tests (`-Zmiri-many-seeds`; the main run
/// uses the default seed).
const MIRI_RING_SEEDS: &str = "1..3";

/// The test binaries the seeds run covers again (the lock-free rings).
const MIRI_SEEDED: &[&str] = &["mpmc", "ring_queue"];

/// The tests of [`MIRI_SEEDED`] the seeds run repeats (libtest name filters): those
/// where threads or tasks race on the ring (stress runs, shutdown races, wake-ups,
/// blocking and timed forms across threads). The single-threaded ones (capacities,
/// wrap-around, drop counts, error values) would only see other allocation addresses.
const MIRI_SEEDED_FILTERS: &[&str] = &[
    "stress",
    "racing",
    "wake",
    "woken",
    "waits",
    "arrives",
    "appears",
    "other_side",
];

/// The integration test files of `conkit-core` (`core/tests/*.rs`, by name), listed
/// from the directory so that a new file is never skipped: the loom models
/// (`loom_*.rs`, `#![cfg(loom)]`, empty without loom) when `loom`, else all the others
/// (the ones miri runs).
fn core_tests(loom: bool) -> Res<Vec<String>> {
    let mut tests = std::fs::read_dir(root().join("core/tests"))
        .map_err(|e| format!("core/tests: {e}"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".rs")?;
            (stem.starts_with("loom_") == loom).then(|| stem.to_owned())
        })
        .collect::<Vec<_>>();
    if tests.is_empty() {
        let which = if loom { "loom_*.rs" } else { "*.rs" };
        return Err(format!("no tests found in core/tests/{which}"));
    }
    tests.sort();
    Ok(tests)
}

/// Every test of `conkit-core` under miri (the `std`-gated ones included, e.g. the heap
/// storage behind a bounded `queue::Queue`): the unit tests, each integration test
/// binary but the loom models, the doctests, then the racing tests of the ring binaries
/// again under other seeds ([`MIRI_RING_SEEDS`], [`MIRI_SEEDED_FILTERS`]).
///
/// Miri interprets on one core, so the binaries (built once, first) run as separate
/// `cargo miri test` processes, as many at once as the machine has cores; each one's
/// output is printed whole when it ends.
fn miri() -> Res {
    let flags = "-Zmiri-strict-provenance";
    let seeded = format!("{flags} -Zmiri-many-seeds={MIRI_RING_SEEDS}");
    let tests = core_tests(false)?;
    let miri = |flags: &str, targets: &[&str]| {
        let mut c = Command::new("cargo");
        c.current_dir(root())
            .env("MIRIFLAGS", flags)
            .env("CARGO_TARGET_DIR", root().join("target/miri"))
            .args([
                "+nightly",
                "miri",
                "test",
                "-p",
                "conkit-core",
                "--features",
                "async,std",
            ])
            .args(targets);
        c
    };
    // Build every binary once, so that the parallel runs below only wait for cargo's
    // lock while each checks that nothing is stale.
    let mut build = vec!["--no-run", "--lib"];
    for t in &tests {
        build.extend(["--test", t.as_str()]);
    }
    run(&mut miri(flags, &build))?;
    // The queue, longest runs first (a rough order: the doctests compile one program
    // each, then the larger test files), the seeds runs last.
    let mut jobs: Vec<(String, Command)> = vec![
        ("doctests".into(), miri(flags, &["--doc"])),
        ("unit tests".into(), miri(flags, &["--lib"])),
    ];
    let mut by_size = tests.clone();
    let size = |t: &String| {
        std::fs::metadata(root().join(format!("core/tests/{t}.rs"))).map_or(0, |m| m.len())
    };
    by_size.sort_by_key(|t| std::cmp::Reverse(size(t)));
    for t in &by_size {
        jobs.push((format!("--test {t}"), miri(flags, &["--test", t])));
    }
    for t in MIRI_SEEDED {
        if !tests.iter().any(|x| x == t) {
            return Err(format!("core/tests/{t}.rs (seeded miri run) not found"));
        }
        let mut args = vec!["--test", t, "--"];
        args.extend(MIRI_SEEDED_FILTERS);
        jobs.push((
            format!("--test {t} (seeds {MIRI_RING_SEEDS}, racing tests)"),
            miri(&seeded, &args),
        ));
    }
    let lanes = std::thread::available_parallelism().map_or(1, |n| n.get());
    run_parallel(jobs, lanes)
}

/// The `std-adapter/tests/*.rs` files the ThreadSanitizer step leaves out (by name or
/// name prefix): the `multiprocessing` binaries (`mp_*`) test real processes, which
/// ThreadSanitizer cannot relate (each process has its own shadow memory: a race
/// through a shared mapping is invisible to it), and forked children of a threaded
/// test harness that start threads are killed by ThreadSanitizer ("starting new threads
/// after multi-threaded fork is not supported"); their in-process threads are covered
/// by the unit tests. `deadlock` has no test without the `deadlock-detection` feature.
const TSAN_SKIPPED: &[&str] = &["mp_", "deadlock"];

/// ThreadSanitizer (nightly, `-Zsanitizer=thread`, std rebuilt with it) over `conkit`'s
/// unit tests and every integration test binary but those of [`TSAN_SKIPPED`] (listed
/// from `std-adapter/tests`, so a new file is never skipped). A report makes the test
/// binary exit with 66, so the step fails; every binary runs (`--no-fail-fast`).
fn tsan() -> Res {
    let host = crate::util::output(Command::new("rustc").args(["+nightly", "-vV"]))?
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .ok_or("`rustc +nightly -vV` names no host")?;
    let mut tests = std::fs::read_dir(root().join("std-adapter/tests"))
        .map_err(|e| format!("std-adapter/tests: {e}"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".rs")?.to_owned();
            (!TSAN_SKIPPED.iter().any(|s| stem.starts_with(s))).then_some(stem)
        })
        .collect::<Vec<_>>();
    tests.sort();
    let mut c = Command::new("cargo");
    c.current_dir(root())
        .env("RUSTFLAGS", "-Zsanitizer=thread")
        .env("TSAN_OPTIONS", "halt_on_error=0 second_deadlock_stack=1")
        .env("CARGO_TARGET_DIR", root().join("target/tsan"))
        .args([
            "+nightly",
            "test",
            "-Zbuild-std",
            "--target",
            &host,
            "-p",
            "conkit",
            "--no-fail-fast",
            "--lib",
        ]);
    for t in &tests {
        c.args(["--test", t]);
    }
    run(&mut c)
}

/// Runs the commands, `lanes` at a time in queue order, each one's output captured and
/// printed whole when it ends; after a failure no new one starts. Fails with every
/// failed command.
fn run_parallel(jobs: Vec<(String, Command)>, lanes: usize) -> Res {
    use std::io::Write;
    use std::sync::Mutex;
    let total = jobs.len();
    let queue = Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>());
    queue.lock().expect("queue").reverse();
    let failed = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..lanes.clamp(1, total.max(1)) {
            s.spawn(|| loop {
                if !failed.lock().expect("failed").is_empty() {
                    return;
                }
                let Some((k, (name, mut cmd))) = queue.lock().expect("queue").pop() else {
                    return;
                };
                let t = Instant::now();
                let out = cmd.output();
                let secs = t.elapsed().as_secs_f64();
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "    [{}/{total}] $ {cmd:?}", k + 1);
                let ok = match &out {
                    Ok(o) => {
                        let _ = err.write_all(&o.stdout);
                        let _ = err.write_all(&o.stderr);
                        o.status.success()
                    }
                    Err(e) => {
                        let _ = writeln!(err, "cannot start: {e}");
                        false
                    }
                };
                let verdict = if ok { "ok" } else { "FAILED" };
                let _ = writeln!(
                    err,
                    "    [{}/{total}] {verdict}  {name}  ({secs:.0} s)",
                    k + 1
                );
                if !ok {
                    failed.lock().expect("failed").push(name);
                }
            });
        }
    });
    let failed = failed.into_inner().expect("failed");
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed: {}", failed.join(", ")))
    }
}
