local router = require('yolk.router')

describe('router', function()
  local function h() end
  it('matches static paths and methods', function()
    local r = router.new()
    r:get('/', h)
    r:post('/users', h)
    ok(r:match('GET', '/'))
    ok(r:match('POST', '/users'))
    ok(not r:match('GET', '/users'))
    ok(not r:match('GET', '/nope'))
  end)

  it('captures :params, percent-decoded', function()
    local r = router.new()
    r:get('/user/:id/post/:pid', h)
    local route, params = r:match('GET', '/user/a%20b/post/7')
    ok(route)
    eq(params, { id = 'a b', pid = '7' })
    ok(not r:match('GET', '/user/1/post'))
    ok(not r:match('GET', '/user//post/1'))
  end)

  it('treats pattern characters in paths literally', function()
    local r = router.new()
    r:get('/a.b', h)
    ok(r:match('GET', '/a.b'))
    ok(not r:match('GET', '/axb'))
  end)

  it('supports all verbs, HEAD via GET, and named routes', function()
    local r = router.new()
    for _, m in ipairs { 'put', 'patch', 'delete' } do r[m](r, '/x', h) end
    r:get('home', '/home', h)
    ok(r:match('PUT', '/x')); ok(r:match('PATCH', '/x')); ok(r:match('DELETE', '/x'))
    local route = r:match('HEAD', '/home')
    eq(route.name, 'home')
  end)

  it('keeps route middleware and the first match wins', function()
    local r = router.new()
    local mw = function() end
    local first = function() end
    r:get('/p/:id', mw, first)
    r:get('/p/:x', h)
    local route = r:match('GET', '/p/1')
    eq(route.handler, first)
    eq(route.middleware, { mw })
  end)

  it('reports a missing handler clearly', function()
    local r = router.new()
    raises(function() r:get('/x', nil) end, 'handler is a nil')
  end)

  it('resolves string handlers', function()
    local r = router.new { resolve = function(name) if name == 'home.index' then return h end end }
    eq(r:get('/', 'home.index').handler, h)
    raises(function() r:get('/y', 'home.nope') end, 'no controller action')
  end)

  it('wildcards capture the rest', function()
    local r = router.new()
    r:get('/files/*', h)
    local _, params = r:match('GET', '/files/a/b.txt')
    eq(params[1], 'a/b.txt')
  end)
end)
