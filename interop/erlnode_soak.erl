%% Soak driver run inside each real erl peer (tests/soak.rs).
%% For Secs seconds it mixes: bursts of ordered messages to {inbox, Node}
%% (erlnode acks every 1000th, in order), rpc:call round trips, and
%% spawn_link / spawn_monitor churn of Rust processes with exits.
-module(erlnode_soak).
-export([start/3, await/2]).

start(Node, Secs, Id) ->
    spawn(fun() ->
        process_flag(trap_exit, true),
        Deadline = erlang:monotonic_time(millisecond) + Secs * 1000,
        exit({done, loop(Node, Id, Deadline, 1, #{sent => 0, rpc => 0, spawns => 0, acks => 0, errors => []})})
    end).

await(Pid, Timeout) ->
    Ref = monitor(process, Pid),
    receive {'DOWN', Ref, _, _, Reason} -> Reason after Timeout -> timeout end.

loop(Node, Id, Deadline, I, S0) ->
    case erlang:monotonic_time(millisecond) > Deadline of
        true ->
            S = collect_acks(S0, 5000, (I - 1) div 1000),
            S#{last => I - 1};
        false ->
            [{inbox, Node} ! {seq, Id, self(), J} || J <- lists:seq(I, I + 99)],
            S1 = collect_acks(S0, 0, 0),
            S2 = rpc_check(Node, I, S1),
            S3 = spawn_check(Node, S2),
            loop(Node, Id, Deadline, I + 100, S3#{sent := maps:get(sent, S3) + 100})
    end.

%% Acks {ack, J} must arrive with J = 1000, 2000, ... in order.
collect_acks(S = #{acks := A}, Wait, Want) when A >= Want, Wait > 0 -> S;
collect_acks(S = #{acks := A}, Wait, Want) ->
    Next = (A + 1) * 1000,
    receive
        {ack, Next} -> collect_acks(S#{acks := A + 1}, Wait, Want);
        {ack, Other} -> err(S, {ack_out_of_order, Next, Other})
    after Wait -> S
    end.

rpc_check(Node, I, S) ->
    X = {I, <<"payload">>, [a, b, c], #{k => I}},
    case rpc:call(Node, erlnode_soak, echo, [X], 10000) of
        X -> S#{rpc := maps:get(rpc, S) + 1};
        Other -> err(S, {rpc, Other})
    end.

spawn_check(Node, S) ->
    P = spawn_link(Node, erlnode_soak, echo, []),
    P ! {self(), hi},
    R1 = receive hi -> ok after 10000 -> no_echo end,
    P ! {exit, bye},
    R2 = receive {'EXIT', P, bye} -> ok after 10000 -> no_exit end,
    {Q, Ref} = spawn_monitor(Node, erlnode_soak, echo, []),
    Q ! stop,
    R3 = receive {'DOWN', Ref, process, Q, normal} -> ok after 10000 -> no_down end,
    case {R1, R2, R3} of
        {ok, ok, ok} -> S#{spawns := maps:get(spawns, S) + 1};
        Bad -> err(S, {spawn, Bad})
    end.

err(S = #{errors := E}, What) when length(E) < 20 -> S#{errors := [What | E]};
err(S, _) -> S.
