-- app/router.lua
return function(app)
  app.io:of('/auction'):route('bid', app.io.controller.auction.bid)
end
