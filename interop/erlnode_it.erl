%% Erlang-side helpers for erlnode's interop tests.
-module(erlnode_it).
-export([zoo/0, echo_zoo/1, send_seq/3, recv_seq/2, wait_msg/2, deep_list/1]).

%% Every kind of term, with the awkward ones the issue lists.
zoo() ->
    [0, 1, 255, 256, -1, 2147483647, -2147483648, 2147483648, 1 bsl 62, -(1 bsl 63),
     1 bsl 64, -(1 bsl 64), 1 bsl 1000, -(1 bsl 1000),
     0.0, 1.5, -2.25e-300, 1.0e300, 3.141592653589793,
     '', ok, 'hello world', 'ö', '日本語', list_to_atom(lists:duplicate(255, $a)),
     <<>>, <<"bin">>, <<0,1,2,255>>, binary:copy(<<"x">>, 1024 * 1024),
     <<1:3>>, <<255, 7:5>>,
     self(), make_ref(), hd(erlang:ports()), alias(),
     fun() -> ok end, fun(X) -> X + 1 end, fun lists:map/2,
     {}, {a}, {a, b, c}, list_to_tuple(lists:seq(1, 300)),
     [], "abc", [1, 2, 3], [a | b], [1, 2 | 3], lists:seq(1, 70000), [256, 1000],
     #{}, #{a => 1, b => [2]}, maps:from_list([{I, I * I} || I <- lists:seq(1, 100)]),
     #{#{k => v} => {nested, #{1 => 2}}},
     {deep, deep_list(10000)}].

deep_list(0) -> [];
deep_list(N) -> [deep_list(N - 1)].

%% Sends each zoo term to {echo, Node} as {self(), T} and checks the reply
%% is exactly the same term. Returns the list of indices that failed.
echo_zoo(Node) ->
    Z = zoo(),
    [I || {I, T} <- lists:zip(lists:seq(1, length(Z)), Z),
          begin
              {echo, Node} ! {self(), T},
              receive R -> R =/= T after 10000 -> true end
          end].

%% Sends {seq, I} for I in 1..N to Dest, as fast as possible.
send_seq(Dest, From, N) when From > N -> Dest;
send_seq(Dest, From, N) -> Dest ! {seq, From}, send_seq(Dest, From + 1, N).

%% Receives {seq, 1..N} in order; ok, or what went wrong.
recv_seq(N, Timeout) -> recv_seq(1, N, Timeout).
recv_seq(I, N, _) when I > N -> ok;
recv_seq(I, N, Timeout) ->
    receive
        {seq, I} -> recv_seq(I + 1, N, Timeout);
        {seq, J} -> {out_of_order, expected, I, got, J}
    after Timeout -> {missing_from, I}
    end.

%% Waits for a message matching Pred, up to Timeout ms.
wait_msg(Pred, Timeout) ->
    receive M ->
        case Pred(M) of true -> {ok, M}; false -> wait_msg(Pred, Timeout) end
    after Timeout -> timeout
    end.
