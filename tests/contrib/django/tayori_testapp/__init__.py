"""A minimal installed app whose ``tasks`` module tayori's AppConfig must discover."""
