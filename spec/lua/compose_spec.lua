local compose = require('yolk.compose')

describe('compose', function()
  it('runs middleware in order, code after next() in reverse, final innermost', function()
    local log = {}
    local fn = compose {
      function(ctx, next) log[#log + 1] = 'a1'; next(); log[#log + 1] = 'a2' end,
      function(ctx, next) log[#log + 1] = 'b1'; next(); log[#log + 1] = 'b2' end,
    }
    fn({}, function() log[#log + 1] = 'final' end)
    eq(log, { 'a1', 'b1', 'final', 'b2', 'a2' })
  end)

  it('stops when a middleware does not call next()', function()
    local log = {}
    local fn = compose {
      function(ctx, next) log[#log + 1] = 'a' end,
      function(ctx, next) log[#log + 1] = 'b'; next() end,
    }
    fn({}, function() log[#log + 1] = 'final' end)
    eq(log, { 'a' })
  end)

  it('returns what the inner part returned from next()', function()
    local fn = compose { function(ctx, next) ctx.got = next(); return 'outer' end }
    local ctx = {}
    eq(fn(ctx, function() return 'inner' end), 'outer')
    eq(ctx.got, 'inner')
  end)

  it('shares ctx', function()
    local fn = compose { function(ctx, next) ctx.x = 1; next() end }
    local ctx = {}
    fn(ctx, function(c) c.y = c.x + 1 end)
    eq(ctx.y, 2)
  end)

  it('raises when next() is called twice', function()
    local fn = compose { function(ctx, next) next(); next() end }
    raises(function() fn({}, function() end) end, 'multiple')
  end)

  it('propagates errors to outer middleware, which may catch them', function()
    local caught
    local fn = compose {
      function(ctx, next) local ok, e = pcall(next); caught = e end,
      function() error('boom') end,
    }
    fn({}, function() end)
    ok(tostring(caught):find('boom'))
  end)

  it('rejects non-functions', function()
    raises(function() compose { 'auth' } end, 'not a function')
  end)

  it('an empty chain calls final', function()
    local called = false
    compose {}({}, function() called = true end)
    ok(called)
  end)
end)
