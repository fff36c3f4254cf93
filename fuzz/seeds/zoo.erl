%% Seeds built by the real BEAM (term_to_binary) for the decode and
%% dist_frame fuzz targets. Run by fuzz/seeds/make_seeds.sh.
-module(zoo).
-export([main/1]).

main([Out]) ->
    Decode = filename:join(Out, "decode"),
    Frames = filename:join(Out, "dist_frame"),
    ok = filelib:ensure_dir(filename:join(Decode, "x")),
    ok = filelib:ensure_dir(filename:join(Frames, "x")),
    Pid = self(),
    Ref = make_ref(),
    Port = hd(erlang:ports()),
    Fun = fun(X) -> {X, Pid} end,
    Terms = [0, 255, 256, -1, 1 bsl 27, -(1 bsl 27) - 1, 1 bsl 64, -(1 bsl 300), 1 bsl 2100,
             0.0, -0.0, 3.14159, 1.0e300, -2.5e-300,
             atom, '', 'with space', 'ünïcödé', list_to_atom(lists:duplicate(255, $a)),
             "", "string", [1, 2, 300], [a | b], [[]], lists:seq(1, 3000),
             <<>>, <<"binary">>, <<1:3>>, <<255, 7:5>>, binary:copy(<<"x">>, 100),
             {}, {a, b}, list_to_tuple(lists:seq(1, 300)),
             #{}, #{a => 1, b => [2]}, maps:from_list([{N, N} || N <- lists:seq(1, 40)]),
             #{{k} => #{nested => true}},
             Pid, Ref, Port, Fun, fun lists:map/2, fun erlang:node/0,
             {record, Pid, Ref, "name", <<"v">>, 12345678901234567890, [x, y]},
             lists:foldl(fun(_, A) -> [A] end, [], lists:seq(1, 200)),
             lists:foldl(fun(_, A) -> {A} end, ok, lists:seq(1, 200))],
    lists:foreach(
      fun({I, T}) ->
              write(Decode, io_lib:format("t~3..0B", [I]), term_to_binary(T, [{minor_version, 2}])),
              write(Decode, io_lib:format("t~3..0B_v1", [I]), term_to_binary(T, [{minor_version, 1}])),
              write(Decode, io_lib:format("t~3..0B_z", [I]), term_to_binary(T, [compressed])),
              write(Decode, io_lib:format("t~3..0B_v0", [I]), term_to_binary(T, [{minor_version, 0}]))
      end, lists:zip(lists:seq(1, length(Terms)), Terms)),
    %% Control messages of every operation (PROTOCOL.md 4), as pass-through
    %% frames: 112, term_to_binary(Control), [term_to_binary(Payload)].
    Msg = {hello, [1, 2, 3], <<"bin">>, Pid, Ref},
    Ctls = [{{2, '', Pid}, Msg}, {{22, Pid, Pid}, Msg}, {{6, Pid, '', reg}, Msg},
            {{33, Pid, Ref}, Msg}, {{1, Pid, Pid}, none}, {{4, Pid, Pid}, none},
            {{35, 7, Pid, Pid}, none}, {{36, 7, Pid, Pid}, none},
            {{3, Pid, Pid, normal}, none}, {{24, Pid, Pid}, {shutdown, x}},
            {{8, Pid, Pid, kill}, none}, {{26, Pid, Pid}, kill},
            {{7, Pid, Pid}, none}, {{19, Pid, Pid, Ref}, none}, {{19, Pid, name, Ref}, none},
            {{20, Pid, Pid, Ref}, none}, {{21, Pid, Pid, Ref, noproc}, none},
            {{28, name, Pid, Ref}, noconnection},
            {{29, Ref, Pid, Pid, {lists, seq, 2}, [link, monitor]}, [1, 3]},
            {{31, Ref, Pid, 3, Pid}, none}, {{31, Ref, Pid, 0, badarg}, none},
            {{12, '', Pid, token}, Msg}, {{16, Pid, '', reg, token}, Msg}],
    lists:foreach(
      fun({I, {Ctl, P}}) ->
              Body = case P of
                         none -> term_to_binary(Ctl);
                         _ -> [term_to_binary(Ctl), term_to_binary(P)]
                     end,
              write(Frames, io_lib:format("op~2..0B", [I]), [112, Body])
      end, lists:zip(lists:seq(1, length(Ctls)), Ctls)),
    halt().

write(Dir, Name, Bytes) ->
    ok = file:write_file(filename:join(Dir, lists:flatten(Name)), Bytes).
