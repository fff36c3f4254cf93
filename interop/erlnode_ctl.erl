%% Control channel for erlnode's interop tests.
%%
%% The test harness starts `erl -noshell -s erlnode_ctl main` and writes one
%% Erlang expression per line on stdin (terminated by a dot). Each is evaluated
%% with erl_eval in a long-lived evaluator process that keeps its bindings and
%% its mailbox, and the result is printed on one line as
%%   #CTL# ok <result printed with ~0tp>
%%   #CTL# error <Class>:<Reason>
%% The line "#CTL# ready" is printed once the node is up.
-module(erlnode_ctl).
-export([main/0, flush/0, recv/1]).

main() ->
    io:setopts(standard_io, [binary, {encoding, unicode}]),
    Self = self(),
    Eval = spawn_link(fun() -> evaluator(Self, erl_eval:new_bindings()) end),
    register(erlnode_ctl_eval, Eval),
    io:put_chars(<<"#CTL# ready\n">>),
    loop(Eval).

loop(Eval) ->
    case io:get_line(standard_io, '') of
        eof -> erlang:halt(0);
        {error, _} -> erlang:halt(0);
        Line ->
            Eval ! {eval, unicode:characters_to_list(Line)},
            receive {result, Out} -> io:put_chars(Out) end,
            loop(Eval)
    end.

evaluator(Parent, Bindings) ->
    receive
        {eval, Text} ->
            {Out, NewBindings} =
                try
                    {ok, Tokens, _} = erl_scan:string(Text),
                    {ok, Exprs} = erl_parse:parse_exprs(Tokens),
                    {value, Value, B2} = erl_eval:exprs(Exprs, Bindings),
                    {io_lib:format("#CTL# ok ~0tp~n", [Value]), B2}
                catch
                    Class:Reason ->
                        {io_lib:format("#CTL# error ~0tp:~0tp~n", [Class, Reason]), Bindings}
                end,
            Parent ! {result, unicode:characters_to_binary(Out)},
            evaluator(Parent, NewBindings)
    end.

%% Drains the evaluator's mailbox, returning what was there.
flush() ->
    receive M -> [M | flush()] after 0 -> [] end.

%% Waits up to Timeout ms for one message.
recv(Timeout) ->
    receive M -> M after Timeout -> timeout end.
