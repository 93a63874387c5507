-- Boot hooks of the benchmark app, for diagnosis only. With YOLK_BENCH_LUAPROF=FILE
-- (bench/run.mjs --luaprof), LuaJIT's sampling profiler runs for the server's whole life and
-- FILE is rewritten every second with the hottest Lua functions and lines (interpreted and
-- compiled code alike, plus time in C functions called from Lua).
local yolk = require('yolk')

local function top(counts, total, n)
  local list = {}
  for k, v in pairs(counts) do list[#list + 1] = { k, v } end
  table.sort(list, function(a, b) return a[2] > b[2] end)
  local out = {}
  for i = 1, math.min(n, #list) do
    out[#out + 1] = ('%6.2f%%  %s'):format(100 * list[i][2] / total, list[i][1])
  end
  return table.concat(out, '\n')
end

return {
  -- YOLK_BENCH_GCPAUSE=N: collectgarbage('setpause', N), to see what GC tuning would buy
  -- (unset in the reported runs: yolk's defaults are what gets measured).
  didLoad = function(app)
    local pause = tonumber(os.getenv('YOLK_BENCH_GCPAUSE') or '')
    if pause then collectgarbage('setpause', pause) end
    -- YOLK_BENCH_JITV=FILE: LuaJIT's -jv (traces compiled and aborted, and why) to FILE
    local jitv = os.getenv('YOLK_BENCH_JITV')
    if jitv and jitv ~= '' then require('jit.v').start(jitv) end
  end,
  serverDidReady = function(app)
    local file = os.getenv('YOLK_BENCH_LUAPROF')
    if not file or file == '' then return end
    local profile = require('jit.profile')
    local funcs, lines, vmstates, total = {}, {}, {}, 0
    -- 'l' mode: stack dumps at line granularity; 1 ms interval.
    profile.start('li1', function(thread, samples, vmstate)
      total = total + samples
      local f = profile.dumpstack(thread, 'F', 1)
      local l = profile.dumpstack(thread, 'pl', 1)
      funcs[f] = (funcs[f] or 0) + samples
      lines[l] = (lines[l] or 0) + samples
      vmstates[vmstate] = (vmstates[vmstate] or 0) + samples
    end)
    while true do
      yolk.sleep(1000)
      local fh = io.open(file, 'w')
      if fh then
        fh:write(('samples %d; VM states (N native/compiled, I interpreted, C C code, G GC, J JIT compiler):\n%s\n\n')
          :format(total, top(vmstates, math.max(total, 1), 10)))
        fh:write('functions:\n', top(funcs, math.max(total, 1), 25), '\n\nlines:\n', top(lines, math.max(total, 1), 40), '\n')
        fh:close()
      end
    end
  end,
}
