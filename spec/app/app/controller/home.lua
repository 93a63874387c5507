local Home = require('yolk.controller'):extend()

function Home:index()
  self.ctx.body = '<!doctype html><title>yolk spec app</title>'
end

function Home:hello()
  local ctx = self.ctx
  ctx:set('x-yolk', 'yes')
  ctx.body = { hello = ctx.params.name, q = ctx.query.q or require('yolk').null }
end

function Home:echo()
  local ctx = self.ctx
  ctx.status = 201
  ctx.body = { body = ctx.request.body, method = ctx.method }
end

function Home:events()
  self.ctx.body = self.app.events:get(self.ctx.params.id)
end

function Home:env()
  self.ctx.body = { env = self.app.env, greeting = self.app.config.greeting, boot = self.app.bootLog }
end

function Home:boom()
  error('http handler exploded')
end

function Home:sleep()
  require('yolk').sleep(50)
  self.ctx.body = 'slept'
end

return Home
