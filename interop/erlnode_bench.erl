%% Benchmark driver for scripts/bench.sh: runs the same workloads against a
%% BEAM peer node and against `erlnode serve`, taking turns, and prints one
%% markdown table with the ratio erlnode / BEAM.
%%
%% Entry points (run with `erl -noshell -run erlnode_bench F Args...`):
%%   main(RustNode, RustOsPid, WorkDir, BenchPeerExe, CodecExe)
%%       every workload; this node must be distributed (-sname) and share the
%%       cookie and ERL_EPMD_PORT with RustNode.
%%   codec(WorkDir, CodecExe)
%%       only the codec rows; no distribution needed.
%%
%% The BEAM peer runs what `erlnode serve` offers: a registered `echo`
%% ({Pid, Msg} -> Pid ! Msg), a registered `sink` (counts every message;
%% {Pid, count} -> Pid ! {count, N}) and a module named `erlnode` with
%% echo/1, so the very same calls work against either node.
-module(erlnode_bench).
-export([main/1, codec/1]).
-export([peer_init/0, echo_loop/0, sink_loop/1, loader/3]).
-export([corpus/0, beam_codec/2, write_corpus/1, slices/1]).
%% Single workloads, for profiling a node by hand.
-export([serial/2, pipeline/2, rpc_latency/2, echo_bin/3]).

%% Workload sizes. A full run stays around a few minutes on 2 busy cores.
-define(SERIAL_N, 10000).        % round trips per serial measurement
-define(PIPELINE_N, 100000).     % messages per pipelined measurement
-define(RPC_N, 5000).            % rpc:call round trips per measurement
-define(CONC_NODES, 10).         % load nodes in the concurrent workload
-define(CONC_K, 20000).          % messages each load node sends
-define(ROUNDS, 3).              % turns per workload: median (codec: best)
-define(CODEC_LOOPS, 100).       % decodes/encodes of the ~1 MB corpus per turn
-define(CODEC_ROUNDS, 5).        % codec turns (about a second each); the best is reported
-define(REPLY_TIMEOUT, 120000).  % ms; a lost reply fails the run, never hangs it

-record(person, {id, name, email, age, tags, address, last_seen}).

%% ---- entry points --------------------------------------------------------

main([RustNodeS, RustPidS, WorkDir, BenchPeerExe, CodecExe]) ->
    run(fun() ->
        Rust = list_to_atom(RustNodeS),
        RustPid = list_to_integer(RustPidS),
        pong = net_adm:ping(Rust),
        {ok, _, Beam} = start_peer("bench_beam"),
        BeamPid = list_to_integer(rpc:call(Beam, os, getpid, [])),
        ok = rpc:call(Beam, ?MODULE, peer_init, []),
        load_echo_module(Beam),
        %% Warm both connections up (atom caches, buffers) before timing.
        _ = serial(Beam, 1000), _ = serial(Rust, 1000),
        Idle = {rss(BeamPid), rss(RustPid)},
        Targets = [Beam, Rust],
        Rows0 = [
            row("serial round trip (µs)", lower, {max, 0.8},
                turns(Targets, fun(N) -> serial(N, ?SERIAL_N) end)),
            row("100k pipelined msgs BEAM→peer (msgs/s)", higher, {min, 1.3},
                turns(Targets, fun(N) -> pipeline(N, ?PIPELINE_N) end)),
            row("rpc:call latency (µs)", lower, {max, 0.8},
                turns(Targets, fun(N) -> rpc_latency(N, ?RPC_N) end)),
            row("8 MiB binary echo (MB/s)", higher, none,
                turns(Targets, fun(N) -> echo_bin(N, 8 bsl 20, 8) end)),
            row("64 MiB binary echo (MB/s)", higher, {min, 1.0},
                turns(Targets, fun(N) -> echo_bin(N, 64 bsl 20, 2) end, 2))
        ],
        Loaders = start_loaders(?CONC_NODES),
        Conc = row(io_lib:format("~b nodes × ~bk pipelined, aggregate (msgs/s)",
                                 [?CONC_NODES, ?CONC_K div 1000]), higher, none,
                   turns(Targets, fun(N) -> concurrent(N, Loaders, ?CONC_K) end)),
        [peer:stop(P) || {P, _} <- Loaders],
        RustRust = row("100k pipelined, node→node same kind (msgs/s)", higher, {min, 3.0},
                       turns(Targets, fun(N) when N =:= Beam -> pipeline(Beam, ?PIPELINE_N);
                                         (_) -> rust_pipeline(BenchPeerExe, Rust, ?PIPELINE_N)
                                      end)),
        Codec = codec_rows(WorkDir, CodecExe),
        {BeamIdle, RustIdle} = Idle,
        Mem = [
            {"resident memory, idle (MiB)", kib(BeamIdle), kib(RustIdle), lower, {abs_max, 10}},
            {"resident memory, peak VmHWM (MiB)", kib(hwm(BeamPid)), kib(hwm(RustPid)),
             lower, {abs_max, 3 * 64}}
        ],
        print_table(Rows0 ++ [Conc, RustRust] ++ Codec ++ Mem),
        Sides = [{Beam, BeamPid}, {Rust, RustPid}],
        print_cpu_table([
            cpu_row("serial round trip", Sides, fun(N) -> serial(N, ?SERIAL_N) end,
                    fun(_) -> ?SERIAL_N end),
            cpu_row("rpc:call", Sides, fun(N) -> rpc_latency(N, ?RPC_N) end,
                    fun(_) -> ?RPC_N end),
            cpu_row("pipelined msg BEAM→peer", Sides,
                    fun(N) -> 1.0e6 / pipeline(N, ?PIPELINE_N) end,
                    fun(_) -> ?PIPELINE_N end)
        ]),
        peer_note(Beam)
    end);
main(Other) ->
    io:format(standard_error, "erlnode_bench:main: bad arguments ~p~n", [Other]),
    erlang:halt(2).

codec([WorkDir, CodecExe]) ->
    run(fun() -> print_table(codec_rows(WorkDir, CodecExe)) end).

run(F) ->
    io:setopts(standard_io, [{encoding, unicode}]),
    try
        F(),
        erlang:halt(0)
    catch
        C:R:St ->
            io:format(standard_error, "bench failed: ~p:~p~n~p~n", [C, R, St]),
            erlang:halt(1)
    end.

%% ---- the BEAM peer's services ------------------------------------------

%% Runs on the BEAM peer: registers `echo` and `sink`.
peer_init() ->
    register(echo, spawn(fun echo_loop/0)),
    register(sink, spawn(fun() -> sink_loop(0) end)),
    ok.

echo_loop() ->
    receive
        {From, Msg} when is_pid(From) -> From ! Msg;
        _ -> ok
    end,
    echo_loop().

sink_loop(N) ->
    receive
        {From, count} when is_pid(From) -> From ! {count, N}, sink_loop(N);
        _ -> sink_loop(N + 1)
    end.

%% A module named `erlnode` with echo/1 on the peer, so that
%% rpc:call(Peer, erlnode, echo, [x]) works against either node.
load_echo_module(Node) ->
    Forms = [{attribute, 1, module, erlnode},
             {attribute, 2, export, [{echo, 1}]},
             {function, 3, echo, 1, [{clause, 3, [{var, 3, 'X'}], [], [{var, 3, 'X'}]}]}],
    {ok, erlnode, Beam} = compile:forms(Forms),
    {module, erlnode} = rpc:call(Node, code, load_binary, [erlnode, "erlnode.erl", Beam]),
    ok.

start_peer(Prefix) ->
    Name = list_to_atom(Prefix ++ "_" ++ os:getpid() ++ "_" ++
                        integer_to_list(erlang:unique_integer([positive]))),
    Dir = filename:dirname(code:which(?MODULE)),
    {ok, P, Node} = peer:start_link(#{name => Name,
                                      %% Hidden, like erlnode: no global mesh
                                      %% between the peers of the run.
                                      args => ["-hidden",
                                               "-setcookie", atom_to_list(erlang:get_cookie()),
                                               "-pa", Dir]}),
    {ok, P, Node}.

peer_note(_Beam) -> ok.

%% ---- workloads ------------------------------------------------------------

now_us() -> erlang:monotonic_time(microsecond).

%% Mean µs of N round trips of {self(), {ping, I}} through the registered echo.
serial(Node, N) ->
    Echo = {echo, Node},
    T0 = now_us(),
    serial_loop(Echo, N),
    (now_us() - T0) / N.

serial_loop(_, 0) -> ok;
serial_loop(Echo, I) ->
    Echo ! {self(), {ping, I}},
    receive {ping, I} -> serial_loop(Echo, I - 1)
    after ?REPLY_TIMEOUT -> error({no_echo_reply, Echo})
    end.

%% N small messages to the sink, then a count request; msgs/s. The count
%% must have grown by exactly N (nothing lost).
pipeline(Node, N) ->
    Sink = {sink, Node},
    C0 = sink_count(Sink),
    T0 = now_us(),
    send_loop(Sink, N),
    C1 = sink_count(Sink),
    T = now_us() - T0,
    check_count(Node, N, C1 - C0),
    N / (T / 1.0e6).

send_loop(_, 0) -> ok;
send_loop(Sink, I) -> Sink ! {seq, I}, send_loop(Sink, I - 1).

sink_count(Sink) ->
    Sink ! {self(), count},
    receive {count, C} -> C
    after ?REPLY_TIMEOUT -> error({no_count_reply, Sink})
    end.

check_count(_, N, N) -> ok;
check_count(Node, N, Got) -> error({messages_lost, Node, {sent, N}, {counted, Got}}).

%% Mean µs of rpc:call(Node, erlnode, echo, [x]).
rpc_latency(Node, N) ->
    T0 = now_us(),
    rpc_loop(Node, N),
    (now_us() - T0) / N.

rpc_loop(_, 0) -> ok;
rpc_loop(Node, I) ->
    case rpc:call(Node, erlnode, echo, [x]) of
        x -> rpc_loop(Node, I - 1);
        Other -> error({rpc_failed, Node, Other})
    end.

%% A Size-byte binary echoed Iters times; MB/s of payload (10^6 bytes per
%% second, each byte sent and returned once).
echo_bin(Node, Size, Iters) ->
    Bin = binary:copy(<<"0123456789abcdef">>, Size div 16),
    Echo = {echo, Node},
    T0 = now_us(),
    Last = echo_bin_loop(Echo, Bin, Size, Iters, none),
    T = now_us() - T0,
    Last =:= Bin orelse error({echo_corrupted, Node}),
    Size * Iters / T.

echo_bin_loop(_, _, _, 0, Last) -> Last;
echo_bin_loop(Echo, Bin, Size, I, _) ->
    Echo ! {self(), Bin},
    receive B when byte_size(B) =:= Size -> echo_bin_loop(Echo, Bin, Size, I - 1, B)
    after ?REPLY_TIMEOUT -> error({no_echo_reply, Echo, Size})
    end.

%% Load nodes, started once and used against both targets.
start_loaders(Count) ->
    Self = self(),
    Ps = [spawn_link(fun() -> Self ! {loader, self(), start_peer("bench_load")},
                              receive stop -> ok end end)
          || _ <- lists:seq(1, Count)],
    [receive {loader, P, {ok, Peer, Node}} -> {Peer, Node}
     after ?REPLY_TIMEOUT -> error(load_node_did_not_start)
     end || P <- Ps].

%% Each load node pipelines K messages to the sink and waits for its count
%% reply; msgs/s over all nodes, from `go` until the last one is done.
concurrent(Node, Loaders, K) ->
    Sink = {sink, Node},
    C0 = sink_count(Sink),
    Self = self(),
    Pids = [spawn(L, ?MODULE, loader, [Sink, K, Self]) || {_, L} <- Loaders],
    [receive {ready, P} -> ok after ?REPLY_TIMEOUT -> error({loader_not_ready, P}) end
     || P <- Pids],
    T0 = now_us(),
    [P ! go || P <- Pids],
    [receive {done, P} -> ok after ?REPLY_TIMEOUT -> error({loader_not_done, P}) end
     || P <- Pids],
    T = now_us() - T0,
    check_count(Node, K * length(Pids), sink_count(Sink) - C0),
    K * length(Pids) / (T / 1.0e6).

loader(Sink = {_, Node}, K, Parent) ->
    pong = net_adm:ping(Node),
    _ = sink_count(Sink),
    Parent ! {ready, self()},
    receive go -> ok end,
    send_loop(Sink, K),
    _ = sink_count(Sink),
    Parent ! {done, self()}.

%% Rust node to Rust node: examples/bench_peer pipelines to erlnode serve's sink.
rust_pipeline(Exe, Rust, N) ->
    Cmd = io_lib:format("~s pipeline ~s ~b ~s", [Exe, Rust, N, erlang:get_cookie()]),
    Out = os:cmd(lists:flatten(Cmd)),
    case string:split(string:trim(Out), " ", all) of
        ["msgs_per_s", V] -> to_float(V);
        _ -> error({bench_peer_failed, Out})
    end.

%% ---- codec -----------------------------------------------------------------

codec_rows(WorkDir, CodecExe) ->
    File = filename:join(WorkDir, "corpus.etf"),
    Bin = term_to_binary(corpus(), [{minor_version, 2}]),
    ok = file:write_file(File, Bin),
    Size = byte_size(Bin),
    Runs = [begin
                {BD, BE} = beam_codec(Bin, ?CODEC_LOOPS),
                R = rust_codec(CodecExe, File, ?CODEC_LOOPS),
                {BD, BE, R}
            end || _ <- lists:seq(1, ?CODEC_ROUNDS)],
    %% Best of the turns: a CPU-bound loop is only ever slowed down by
    %% other load, so the fastest turn is the closest to the truth.
    BeamDec = lists:max([D || {D, _, _} <- Runs]),
    BeamEnc = lists:max([E || {_, E, _} <- Runs]),
    RDec = lists:max([maps:get("decode_mbs", R) || {_, _, R} <- Runs]),
    RShared = lists:max([maps:get("decode_shared_mbs", R) || {_, _, R} <- Runs]),
    REnc = lists:max([maps:get("encode_mbs", R) || {_, _, R} <- Runs]),
    KB = Size div 1024,
    [{io_lib:format("codec decode, ~b KiB corpus (MB/s)", [KB]), BeamDec, RDec, higher, {min, 2.0}},
     {"codec decode, binaries shared (MB/s)", BeamDec, RShared, higher, {min, 2.0}},
     {io_lib:format("codec encode, ~b KiB corpus (MB/s)", [KB]), BeamEnc, REnc, higher, {min, 1.5}}].

%% binary_to_term / term_to_binary MB/s over Loops passes, in a fresh process.
beam_codec(Bin, Loops) ->
    {_, Ref} = spawn_monitor(fun() ->
        T = binary_to_term(Bin),
        MB = byte_size(Bin) * Loops / 1.0e6,
        T0 = now_us(),
        dec_loop(Bin, Loops),
        T1 = now_us(),
        enc_loop(T, Loops),
        T2 = now_us(),
        exit({result, MB / ((T1 - T0) / 1.0e6), MB / ((T2 - T1) / 1.0e6)})
    end),
    receive {'DOWN', Ref, process, _, {result, D, E}} -> {D, E};
            {'DOWN', Ref, process, _, Other} -> error({beam_codec, Other})
    end.

%% Each result is dropped at once, as codec_bench drops its own.
dec_loop(_, 0) -> ok;
dec_loop(B, N) -> _ = binary_to_term(B), dec_loop(B, N - 1).

enc_loop(_, 0) -> ok;
enc_loop(T, N) -> _ = term_to_binary(T, [{minor_version, 2}]), enc_loop(T, N - 1).

rust_codec(Exe, File, Loops) ->
    Out = os:cmd(lists:flatten(io_lib:format("~s ~s ~b", [Exe, File, Loops]))),
    case string:split(string:trim(Out), " ", all) of
        Words when length(Words) rem 2 =:= 0, Words =/= [] -> pairs(Words, #{});
        _ -> error({codec_bench_failed, Out})
    end.

pairs([], M) -> M;
pairs([K, V | T], M) -> pairs(T, M#{K => to_float(V)}).

to_float(S) ->
    try list_to_float(S) catch _:_ -> float(list_to_integer(S)) end.

%% Writes the corpus as scripts/bench.sh does, for examples/codec_slices.rs.
write_corpus(File) ->
    ok = file:write_file(File, term_to_binary(corpus(), [{minor_version, 2}])).

%% binary_to_term / term_to_binary per slice of the corpus in File (items I
%% with I rem 8 =:= K, as examples/codec_slices.rs cuts them): best of 5 runs
%% of 300, one line per slice.
slices(File) ->
    {ok, Bin} = file:read_file(File),
    Items = lists:zip(lists:seq(1, length(binary_to_term(Bin))), binary_to_term(Bin)),
    Loops = 300,
    [begin
         Slice = [T || {I, T} <- Items, I rem 8 =:= K],
         B = term_to_binary(Slice, [{minor_version, 2}]),
         Dec = best_us(fun() -> dec_loop(B, Loops) end),
         Enc = best_us(fun() -> enc_loop(Slice, Loops) end),
         io:format("slice ~b bytes ~b decode_us ~.1f decode_mbs ~.1f encode_mbs ~.1f~n",
                   [K, byte_size(B), Dec / Loops, byte_size(B) * Loops / Dec,
                    byte_size(B) * Loops / Enc])
     end || K <- lists:seq(0, 7)],
    ok.

best_us(F) ->
    lists:min([begin T0 = now_us(), F(), now_us() - T0 end || _ <- lists:seq(1, 5)]).

%% The mixed corpus: records, maps (small and over 32 keys), pids, refs, big
%% integers, strings, binaries, floats and atoms; about 1 MB encoded.
corpus() ->
    rand:seed(exsss, {17, 42, 4711}),
    Pid = self(),
    Refs = list_to_tuple([make_ref() || _ <- lists:seq(1, 16)]),
    [item(I, Pid, Refs) || I <- lists:seq(1, 4000)].

item(I, Pid, Refs) ->
    Ref = element(I rem 16 + 1, Refs),
    case I rem 8 of
        0 -> #person{id = I, name = <<"user-", (integer_to_binary(I))/binary>>,
                     email = "user" ++ integer_to_list(I) ++ "@example.com",
                     age = I rem 90, tags = [admin, staff, active],
                     address = {address, "Main Street", I, <<"Springfield">>},
                     last_seen = {{2024, 1, I rem 28 + 1}, {12, I rem 60, 0}}};
        1 -> #{id => I, kind => order, total => I * 1.25,
               items => [{sku, I, 3}, {sku, I + 1, 1}], status => pending, owner => Pid};
        2 -> {event, Ref, Pid, erlang:phash2(I), [{field(I), I * 7}, {field(I + 1), -I}]};
        3 -> {bigs, [(1 bsl 64) + I, -(1 bsl 100) - I, 12345678901234567890123 * I,
                     1 bsl (200 + I rem 300)]};
        4 -> {blob, I, rand:bytes(16 + rand:uniform(900))};
        5 -> {text, "The quick brown fox jumps over the lazy dog " ++ integer_to_list(I),
              [1000 + I rem 50, 2000, 3000], <<"ünïcödé"/utf8>>};
        6 -> maps:from_list([{K, K * I} || K <- lists:seq(1, 40)]);
        7 -> {ok, [{a, 1}, {b, 2.5 * I}, {c, [x, y, z]}, {d, undefined}],
              Pid, Ref, {nested, {deeper, {deepest, [true, false, I]}}}}
    end.

field(I) -> list_to_atom("field_" ++ integer_to_list(I rem 50)).

%% ---- results -----------------------------------------------------------------

%% Runs F against each target in turn, Rounds times; medians in target order.
turns(Targets, F) -> turns(Targets, F, ?ROUNDS).
turns(Targets, F, Rounds) ->
    Runs = [[F(T) || T <- Targets] || _ <- lists:seq(1, Rounds)],
    [median([lists:nth(I, R) || R <- Runs]) || I <- lists:seq(1, length(Targets))].

median(L) ->
    S = lists:sort(L),
    N = length(S),
    case N rem 2 of
        1 -> lists:nth(N div 2 + 1, S);
        0 -> (lists:nth(N div 2, S) + lists:nth(N div 2 + 1, S)) / 2
    end.

row(Name, Better, Target, [BeamV, RustV]) -> {Name, BeamV, RustV, Better, Target}.

rss(OsPid) -> proc_status(OsPid, "VmRSS:").
hwm(OsPid) -> proc_status(OsPid, "VmHWM:").

proc_status(OsPid, Key) ->
    {ok, Text} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    [Line] = [L || L <- string:split(binary_to_list(Text), "\n", all),
                   lists:prefix(Key, L)],
    [_, V | _] = string:lexemes(Line, " \t"),
    list_to_integer(V).

kib(K) -> K / 1024.

print_table(Rows) ->
    io:format("| workload | BEAM peer | erlnode | ratio erlnode/BEAM | target | met |~n"),
    io:format("|---|---:|---:|---:|---|---|~n"),
    [print_row(R) || R <- Rows],
    ok.

print_row({Name, B, R, Better, Target}) ->
    Ratio = R / B,
    {TargetText, Met} =
        case Target of
            none -> {"", ""};
            {min, X} -> {io_lib:format("ratio ≥ ~.1f", [X]), yes_no(Ratio >= X)};
            {max, X} -> {io_lib:format("ratio ≤ ~.1f", [X]), yes_no(Ratio =< X)};
            {abs_max, X} -> {io_lib:format("erlnode ≤ ~b MiB", [X]), yes_no(R =< X)}
        end,
    _ = Better,
    io:format("| ~ts | ~ts | ~ts | ~.2fx | ~ts | ~ts |~n",
              [Name, num(B), num(R), Ratio, TargetText, Met]).

%% ---- CPU per operation, by side ------------------------------------------

%% The CPU time the driver (this node) and the peer spent per operation,
%% next to the wall time per operation, median of ?ROUNDS turns per peer
%% kind. In a serial workload the two sides take turns, so the wall time
%% per operation cannot drop below the driver's CPU plus the peer's; this is
%% what bounds the serial and rpc:call ratios (docs/BENCH.md). Work(N)
%% runs one turn against node N and returns its wall µs per operation;
%% Ops(N) is the number of operations in a turn.
cpu_row(Name, Sides, Work, Ops) ->
    Drv = os:getpid(),
    Turns = [[begin
                  D0 = cpu_ns(Drv), P0 = cpu_ns(integer_to_list(OsPid)),
                  Wall = Work(Node),
                  D1 = cpu_ns(Drv), P1 = cpu_ns(integer_to_list(OsPid)),
                  K = Ops(Node),
                  {Wall, (D1 - D0) / K / 1000, (P1 - P0) / K / 1000}
              end || {Node, OsPid} <- Sides]
             || _ <- lists:seq(1, ?ROUNDS)],
    PerSide = [[lists:nth(I, T) || T <- Turns] || I <- lists:seq(1, length(Sides))],
    {Name, [{median([W || {W, _, _} <- Ts]), median([D || {_, D, _} <- Ts]),
             median([P || {_, _, P} <- Ts])} || Ts <- PerSide]}.

%% CPU time of all threads of an OS process so far, in ns
%% (/proc/PID/task/*/schedstat: the first field is the time on a CPU).
cpu_ns(OsPid) ->
    Dir = "/proc/" ++ OsPid ++ "/task",
    {ok, Tasks} = file:list_dir(Dir),
    lists:sum([case file:read_file(Dir ++ "/" ++ T ++ "/schedstat") of
                   {ok, B} -> binary_to_integer(hd(binary:split(B, <<" ">>)));
                   {error, _} -> 0 % the thread ended meanwhile
               end || T <- Tasks]).

print_cpu_table(Rows) ->
    io:format("~nCPU per operation by side (µs; medians; the driver is this run's erl):~n~n"),
    io:format("| workload | BEAM peer: wall | driver CPU | peer CPU "
              "| erlnode: wall | driver CPU | erlnode CPU |~n"),
    io:format("|---|---:|---:|---:|---:|---:|---:|~n"),
    [io:format("| ~ts | ~.1f | ~.1f | ~.1f | ~.1f | ~.1f | ~.1f |~n",
               [Name, BW, BD, BP, RW, RD, RP])
     || {Name, [{BW, BD, BP}, {RW, RD, RP}]} <- Rows],
    ok.

yes_no(true) -> "yes";
yes_no(false) -> "**no**".

num(X) when X >= 1000 -> integer_to_list(round(X));
num(X) when X >= 10 -> io_lib:format("~.1f", [float(X)]);
num(X) -> io_lib:format("~.2f", [float(X)]).
