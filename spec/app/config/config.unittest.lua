-- merged over config.default.lua when --env unittest (or YOLK_ENV=unittest)
return { greeting = 'from unittest' }
