%% Erlang-side helpers for tests/interop_procs.rs (issue 4): processes that
%% report every message they get, a drain-until-marker collector, and a
%% real gen_server for erlnode's gen_server client.
-module(erlnode_procs).
-behaviour(gen_server).
-export([reporter/1, reporter/2, drain_until/2, wait_for/2, count/2, echo_loop/0, collect_n/2]).
-export([gs_start/1, init/1, handle_call/3, handle_cast/2, handle_info/2]).

%% A process that traps exits (when Trap is true) and forwards every message
%% it gets to Parent as {report, self(), Msg}. Sending it {run, Fun} runs
%% Fun() inside it (to link, monitor, unlink from there); {exit, R} makes
%% it exit with R.
reporter(Parent) -> reporter(Parent, true).
reporter(Parent, Trap) ->
    spawn(fun() -> process_flag(trap_exit, Trap), report_loop(Parent) end).

report_loop(Parent) ->
    receive
        {run, F} -> Parent ! {ran, self(), F()}, report_loop(Parent);
        {exit, R} -> exit(R);
        M -> Parent ! {report, self(), M}, report_loop(Parent)
    end.

%% A loop for spawns from Rust: {Pid, Msg} gets Pid ! Msg, {exit, R} exits
%% with R.
echo_loop() ->
    receive
        {exit, R} -> exit(R);
        {Pid, M} when is_pid(Pid) -> Pid ! M, echo_loop();
        _ -> echo_loop()
    end.

%% Every message up to Marker (exclusive), oldest first; {timeout, Msgs} when
%% Marker does not come within Timeout ms.
drain_until(Marker, Timeout) -> drain_until(Marker, Timeout, []).
drain_until(Marker, Timeout, Acc) ->
    receive
        Marker -> lists:reverse(Acc);
        M -> drain_until(Marker, Timeout, [M | Acc])
    after Timeout -> {timeout, lists:reverse(Acc)}
    end.

%% The first message for which Pred holds, waiting up to Timeout ms; other
%% messages stay queued. timeout if none.
wait_for(Pred, Timeout) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    wait_for(Pred, Deadline, []).
wait_for(Pred, Deadline, Skipped) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        M ->
            case Pred(M) of
                true -> [self() ! S || S <- lists:reverse(Skipped)], M;
                false -> wait_for(Pred, Deadline, [M | Skipped])
            end
    after Left -> [self() ! S || S <- lists:reverse(Skipped)], timeout
    end.

%% The next N messages, oldest first, or {timeout, Got} when they do not all
%% come within Timeout ms.
collect_n(N, Timeout) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    collect_n(N, Deadline, []).
collect_n(0, _, Acc) -> lists:reverse(Acc);
collect_n(N, Deadline, Acc) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive M -> collect_n(N - 1, Deadline, [M | Acc])
    after Left -> {timeout, lists:reverse(Acc)}
    end.

%% How many of Msgs satisfy Pred.
count(Pred, Msgs) -> length([M || M <- Msgs, Pred(M)]).

%% A registered gen_server: call {echo, X} -> X, {sleep, Ms} -> slept after
%% Ms ms; cast {note, Pid, X} -> Pid ! {noted, X}.
gs_start(Name) ->
    {ok, Pid} = gen_server:start({local, Name}, ?MODULE, [], []),
    Pid.

init([]) -> {ok, nostate}.
handle_call({echo, X}, _From, S) -> {reply, X, S};
handle_call({sleep, Ms}, _From, S) -> timer:sleep(Ms), {reply, slept, S}.
handle_cast({note, Pid, X}, S) -> Pid ! {noted, X}, {noreply, S}.
handle_info(_, S) -> {noreply, S}.
