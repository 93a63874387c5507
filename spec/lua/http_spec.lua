local http = require('yolk.http')
local application = require('yolk.application')
local scheduler = require('yolk.scheduler')
local yolk = require('yolk')
local fake = require('fake_core')

local function fake_req(method, path, opts)
  opts = opts or {}
  local req = { method = method, path = path, url = path, query = opts.query or '', headers = opts.headers or {},
    body = opts.body, remote_addr = '127.0.0.1' }
  function req:respond(status, headers, body)
    if self.responded then return end
    self.responded = { status = status, headers = headers, body = body }
  end
  -- the core's static responder, as far as the framework can tell: the file
  -- is sent (fn(true)) or is not there (fn(false))
  function req:send_file(root, rel, cache_control, fn)
    self.sent_file = { root = root, rel = rel, cache_control = cache_control }
    local f = io.open(root .. '/' .. rel, 'rb')
    if f then
      self.responded = { status = 200, body = f:read('*a') }
      f:close()
    end
    fn(f ~= nil)
    return true
  end
  return req
end

describe('http', function()
  it('parses query strings (first value wins; all values in queries)', function()
    local q, all = http.parse_query('a=1&b=x+y%21&a=2&empty=&flag')
    eq(q, { a = '1', b = 'x y!', empty = '', flag = '' })
    eq(all.a, { '1', '2' })
  end)

  describe('requests against the fixture app', function()
    local clock = fake.clock()
    scheduler.set_timer(clock.timer)
    local app = application.load { baseDir = SPEC_DIR .. '/fixtures/app1', env = 'unittest' }
    local rt = { gen = app }

    it('routes with params, class controllers', function()
      local req = fake_req('GET', '/home/42')
      http.on_request(rt, req)
      eq(req.responded.status, 200)
      eq(req.responded.body, 'home 42')
      eq(req.responded.headers['content-type'], 'text/plain; charset=utf-8')
    end)

    it('404 when nothing matches', function()
      local req = fake_req('GET', '/nothing')
      http.on_request(rt, req)
      eq(req.responded.status, 404)
    end)

    it('a handler error is a 500, logged', function()
      app.router:get('/err', function() error('bad handler') end)
      local logged
      require('yolk.logger').set_sink(function(l, c, m) if m:find('bad handler', 1, true) then logged = m end end)
      local req = fake_req('GET', '/err')
      http.on_request(rt, req)
      eq(req.responded.status, 500)
      ok(logged and logged:find('GET /err', 1, true), logged)
    end)

    it('tables become JSON; ctx:set sets headers; waiting handlers respond later', function()
      app.router:get('/json', function(ctx) ctx:set('X-A', 'b'); yolk.sleep(10); ctx.body = { a = yolk.array({}) } end)
      local req = fake_req('GET', '/json')
      http.on_request(rt, req)
      eq(req.responded, nil)
      clock.advance(10)
      eq(req.responded.body, '{"a":[]}')
      eq(req.responded.headers['x-a'], 'b')
    end)

    it('form bodies are parsed', function()
      local got
      app.router:post('/form', function(ctx) got = ctx.request.body; ctx.body = 'ok' end)
      http.on_request(rt, fake_req('POST', '/form', { body = 'a=1&b=%E4%B8%AD',
        headers = { ['content-type'] = 'application/x-www-form-urlencoded' } }))
      eq(got, { a = '1', b = '中' })
    end)

    it('static files: handed to the core under the prefix, decoded; a miss goes on to the router', function()
      app.config.static.dir = SPEC_DIR .. '/../app/public'
      local req = fake_req('GET', '/public/hello%2Etxt')
      http.on_request(rt, req)
      eq(req.sent_file, { root = app.config.static.dir, rel = 'hello.txt', cache_control = 'no-cache' })
      eq(req.responded.status, 200)
      eq(req.responded.body, 'hello from public\n')
      local missing = fake_req('GET', '/public/nope.txt')
      http.on_request(rt, missing)
      eq(missing.responded.status, 404)
      local post = fake_req('POST', '/public/hello.txt')
      http.on_request(rt, post)
      eq(post.sent_file, nil)
    end)
  end)
end)
