%% Erlang-side helpers for tests/interop_distperf.rs (atom cache, fragments).
-module(erlnode_perf_it).
-export([atoms_term/2, echo_check/3, big/1, big_echo/3, collect/2, digest/1]).

%% A term with N distinct atoms (prefix P) and repeated ones.
atoms_term(P, N) ->
    Distinct = [list_to_atom(P ++ integer_to_list(I)) || I <- lists:seq(1, N)],
    {atoms, Distinct, [ok, ok, hello, hello, world, ok], #{key => value, ok => hello}}.

%% Sends {self(), T} to Dest; true if exactly T comes back.
echo_check(Dest, T, Timeout) ->
    Dest ! {self(), T},
    receive R -> R =:= T after Timeout -> timeout end.

%% A binary of Size bytes that is not all one value.
big(Size) ->
    Pattern = list_to_binary(lists:seq(0, 255)),
    Whole = binary:copy(Pattern, Size div 256),
    <<Whole/binary, (binary:part(Pattern, 0, Size rem 256))/binary>>.

%% Sends {self(), {big, B}} with a Size-byte binary to Dest and checks that
%% the same binary comes back.
big_echo(Dest, Size, Timeout) ->
    B = big(Size),
    Dest ! {self(), {big, B}},
    receive {big, R} -> {byte_size(R), R =:= B} after Timeout -> timeout end.

%% Receives N messages; returns each one's tag and, for binaries, size and
%% md5, in the order they arrived.
collect(N, Timeout) -> collect(N, Timeout, []).
collect(0, _, Acc) -> lists:reverse(Acc);
collect(N, Timeout, Acc) ->
    receive M -> collect(N - 1, Timeout, [digest(M) | Acc])
    after Timeout -> lists:reverse([timeout | Acc])
    end.

digest({Tag, B}) when is_binary(B) -> {Tag, byte_size(B), erlang:md5(B)};
digest(M) -> M.
